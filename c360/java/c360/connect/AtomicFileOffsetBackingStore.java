package c360.connect;

import java.io.IOException;
import java.io.ObjectOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.runtime.WorkerConfig;
import org.apache.kafka.connect.storage.MemoryOffsetBackingStore;
import org.apache.kafka.connect.util.SafeObjectInputStream;

/**
 * Debezium offsets in a file that a crash never leaves half-written.
 *
 * <p>Kafka's FileOffsetBackingStore truncates its file and writes it again in place, and reads an empty
 * or cut-off file as "no offsets": a connector killed in that window silently takes a new snapshot on
 * restart, and every delete made in between is lost. Here each save writes a sibling temporary file,
 * forces it to disk and renames it over the old one (then forces the directory), so the file is always
 * one whole save. A file that exists but cannot be read stops the connector instead of re-snapshotting.
 * The format is FileOffsetBackingStore's (a serialized map of byte arrays), so either reads the other's.
 */
public class AtomicFileOffsetBackingStore extends MemoryOffsetBackingStore {
    private static final String FILENAME = "offset.storage.file.filename";

    private Path file;

    @Override
    public void configure(WorkerConfig config) {
        super.configure(config);
        file = Paths.get(config.getString(FILENAME)).toAbsolutePath();
    }

    @Override
    public synchronized void start() {
        super.start();
        load();
    }

    @Override
    public Set<Map<String, Object>> connectorPartitions(String connectorName) {
        return Collections.emptySet(); // only Kafka Connect's REST offsets API asks; the engine never does
    }

    private void load() {
        if (!Files.exists(file)) {
            return; // a new connector: Debezium snapshots
        }
        try (SafeObjectInputStream in = new SafeObjectInputStream(Files.newInputStream(file))) {
            Object raw = in.readObject();
            if (!(raw instanceof Map)) {
                throw new IOException("expected a map, found " + (raw == null ? "null" : raw.getClass().getName()));
            }
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) raw).entrySet()) {
                data.put(wrap((byte[]) entry.getKey()), wrap((byte[]) entry.getValue()));
            }
        } catch (IOException | ClassNotFoundException | ClassCastException e) {
            throw new ConnectException(
                "offsets file " + file + " cannot be read (" + e + "). It was left as it is: restore it from"
                    + " a copy, or move it aside to take a new snapshot", e);
        }
    }

    @Override
    protected void save() {
        Map<byte[], byte[]> raw = new HashMap<>();
        for (Map.Entry<ByteBuffer, ByteBuffer> entry : data.entrySet()) {
            raw.put(bytes(entry.getKey()), bytes(entry.getValue()));
        }
        Path temporary = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.CREATE,
                     StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                 ObjectOutputStream out = new ObjectOutputStream(Channels.newOutputStream(channel))) {
                out.writeObject(raw);
                out.flush();
                channel.force(true);
            }
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel directory = FileChannel.open(file.getParent(), StandardOpenOption.READ)) {
                directory.force(true); // the rename itself survives a power cut
            }
        } catch (IOException e) {
            throw new ConnectException("cannot save offsets to " + file, e);
        }
    }

    private static ByteBuffer wrap(byte[] value) {
        return value == null ? null : ByteBuffer.wrap(value);
    }

    private static byte[] bytes(ByteBuffer value) {
        return value == null ? null : value.array();
    }
}
