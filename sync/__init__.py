"""MongoDB change streams into Delta Lake tables, exactly once (resume tokens committed with each batch).

Empty until the CDC sync lands; see the issue tracker.
"""
