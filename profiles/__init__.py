"""The profile room, pure: what events add to a profile, and what a profile says as of a clock."""
