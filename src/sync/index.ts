/**
 * Copas-grade synchronisation primitives as Effect values: no sockets.
 *
 * @since 0.1.0
 */
