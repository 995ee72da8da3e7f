// Package multi is the backend for a fixed list of servers that can be
// replaced at run time with Update; watchers see every update.
//
// URL form: multi://tcp@h1:8972,tcp@h2:8972
package multi
