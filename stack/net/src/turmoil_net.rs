//! The turmoil backend: turmoil's simulated sockets.
