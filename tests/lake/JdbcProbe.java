// The PostgreSQL JDBC driver against c360's SQL endpoint (tests/sql/test_endpoint_clients.py compiles and
// runs this): lists the tables and columns through DatabaseMetaData, then reads customer_360 with a
// prepared statement and prints each row as tab-separated getString() values, one line per row.
// Usage: java -cp postgresql.jar:. JdbcProbe URL USER PASSWORD PROFILE_ID...
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.util.Properties;

public class JdbcProbe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            DatabaseMetaData meta = conn.getMetaData();
            try (ResultSet tables = meta.getTables(null, "public", "%", null)) {
                while (tables.next()) {
                    System.out.println("table\t" + tables.getString("TABLE_NAME") + "\t" + tables.getString("TABLE_TYPE"));
                }
            }
            try (ResultSet columns = meta.getColumns(null, "public", "customer_360", "%")) {
                while (columns.next()) {
                    System.out.println("column\t" + columns.getString("COLUMN_NAME") + "\t" + columns.getString("TYPE_NAME"));
                }
            }
            String sql = "SELECT * FROM customer_360 WHERE profile_id = ?";
            try (PreparedStatement statement = conn.prepareStatement(sql)) {
                for (int i = 3; i < args.length; i++) {
                    statement.setString(1, args[i]);
                    try (ResultSet rows = statement.executeQuery()) {
                        ResultSetMetaData shape = rows.getMetaData();
                        while (rows.next()) {
                            StringBuilder line = new StringBuilder("row");
                            for (int c = 1; c <= shape.getColumnCount(); c++) {
                                line.append('\t').append(shape.getColumnName(c)).append('=').append(rows.getString(c));
                            }
                            System.out.println(line);
                        }
                    }
                }
            }
        }
    }
}
