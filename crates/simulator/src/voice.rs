//! The voice channel: calls that ring, are answered or not, and read a text to the handset.
