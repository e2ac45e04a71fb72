//! The socket backend: the host operating system's sockets through tokio.
