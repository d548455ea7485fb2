"""Activation: real-time segments and the outbound streams (Kafka topics, signed HTTP destinations) that
let other systems act on a profile the moment it changes."""
