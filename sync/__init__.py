"""MongoDB change streams into Delta Lake tables, exactly once: the lakehouse's only writer."""
