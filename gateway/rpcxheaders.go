package gateway

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"
)

// rpcx's HTTP gateway headers (github.com/smallnest/rpcx/server, converter.go).
const (
	rpcxVersion           = "X-RPCX-Version"
	rpcxMessageStatusType = "X-RPCX-MessageStatusType"
	rpcxSerializeType     = "X-RPCX-SerializeType"
	rpcxCompressType      = "X-RPCX-CompressType"
	rpcxMessageID         = "X-RPCX-MessageID"
	rpcxServicePath       = "X-RPCX-ServicePath"
	rpcxServiceMethod     = "X-RPCX-ServiceMethod"
	rpcxMeta              = "X-RPCX-Meta"
	rpcxErrorMessage      = "X-RPCX-ErrorMessage"
)

// serveRPCXHeaders serves rpcx's HTTP gateway protocol, so that rpcx's
// cross-language gateway clients work unchanged: service and method in
// headers, the body in the serialisation X-RPCX-SerializeType names, passed
// to the server as is. The answer carries the same headers back, with
// X-RPCX-MessageStatusType "Normal" or "Error" (and X-RPCX-ErrorMessage);
// the status code follows the gateway's mapping.
func (g *Gateway) serveRPCXHeaders(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	wh := w.Header()
	for _, k := range []string{rpcxVersion, rpcxMessageID, rpcxServicePath, rpcxServiceMethod, rpcxSerializeType} {
		if v := h.Get(k); v != "" {
			wh.Set(k, v)
		}
	}
	fail := func(status int, msg string) {
		wh.Set(rpcxMessageStatusType, "Error")
		wh.Set(rpcxErrorMessage, msg)
		writeError(w, status, msg)
	}
	if r.Method != http.MethodPost {
		wh.Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "rpcx gateway requests are POSTs")
		return
	}
	c := &call{service: h.Get(rpcxServicePath), method: h.Get(rpcxServiceMethod), meta: map[string]string{}}
	switch {
	case c.service == "":
		fail(http.StatusBadRequest, "empty "+rpcxServicePath)
		return
	case c.method == "":
		fail(http.StatusBadRequest, "empty "+rpcxServiceMethod)
		return
	}
	st, err := strconv.Atoi(h.Get(rpcxSerializeType))
	if err != nil || st < 0 || st > 255 {
		fail(http.StatusBadRequest, rpcxSerializeType+" must be rpcx's serialize type number (1 for JSON)")
		return
	}
	c.serializeType = st
	if id := h.Get(rpcxMessageID); id != "" {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			fail(http.StatusBadRequest, rpcxMessageID+" must be an unsigned integer")
			return
		}
	}
	if m := h.Get(rpcxMeta); m != "" {
		vals, err := url.ParseQuery(m)
		if err != nil {
			fail(http.StatusBadRequest, rpcxMeta+" must be a URL query string")
			return
		}
		for k, v := range vals {
			c.meta[k] = v[0]
		}
	}
	if auth := h.Get("Authorization"); auth != "" {
		c.meta[share.AuthKey] = auth // as rpcx's own gateway does
	}
	body, ok := g.readBody(w, r)
	if !ok {
		return
	}
	if ct := h.Get(rpcxCompressType); ct != "" && ct != "0" {
		n, err := strconv.Atoi(ct)
		comp := protocol.Compressors[protocol.CompressType(n)]
		if err != nil || n < 0 || n > 255 || comp == nil {
			fail(http.StatusBadRequest, rpcxCompressType+" names no compressor rpcx knows")
			return
		}
		if body, err = comp.Unzip(body); err != nil {
			fail(http.StatusBadRequest, "body does not decompress as "+rpcxCompressType+" says: "+err.Error())
			return
		}
	}
	c.body = body
	rep, err := g.do(r, c)
	if err != nil {
		status, msg := classify(err)
		if status >= 500 {
			g.log.Warn("gateway call failed", "service", c.service, "method", c.method, "status", status, "err", err)
		}
		fail(status, msg)
		return
	}
	meta := url.Values{}
	for k, v := range rep.meta {
		if k != share.AuthKey {
			meta.Set(k, v)
		}
	}
	if len(meta) > 0 {
		wh.Set(rpcxMeta, meta.Encode())
	}
	wh.Set(rpcxMessageStatusType, "Normal")
	w.Write(rep.body)
}
