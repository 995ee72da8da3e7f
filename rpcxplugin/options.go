package rpcxplugin

import "time"

// cloneTimeout bounds the wait for the first list in Clone, whose signature
// (rpcx's) has no context.
const cloneTimeout = 10 * time.Second
