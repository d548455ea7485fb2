"""The identity room, pure: identity rules, stitching, matching and lineage, free of I/O."""
