//go:build mdns

package mdns

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"

	"github.com/seedforge/discovery/core"
)

const (
	// maxLabel is the DNS limit on one label (RFC 1035 §2.3.4).
	maxLabel = 63
	// maxTXTString is the DNS limit on one TXT character-string.
	maxTXTString = 255
	// maxMessage is the largest mDNS message payload: 9000 bytes including
	// the IPv6 and UDP headers (RFC 6762 §17).
	maxMessage = 9000 - 40 - 8
)

// serviceType maps a service name to its DNS-SD service type "_name._tcp".
func serviceType(service string) (string, error) {
	if err := core.ValidateService(service); err != nil {
		return "", err
	}
	if len(service)+1 > maxLabel {
		return "", fmt.Errorf("%w: mdns: service name %q is %d bytes; it becomes the DNS label _%s, limited to %d bytes, so use at most %d",
			core.ErrInvalid, service, len(service), service, maxLabel, maxLabel-1)
	}
	for _, r := range service {
		if !isAlnum(r) && r != '-' && r != '_' {
			return "", fmt.Errorf("%w: mdns: service name %q has %q; an mDNS service type holds letters, digits, '-' and '_' only",
				core.ErrInvalid, service, r)
		}
	}
	return "_" + service + "._tcp", nil
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// checkDomain validates the mDNS domain and returns it without dots at the ends.
func checkDomain(domain string) (string, error) {
	d := strings.Trim(domain, ".")
	if d == "" {
		return "", fmt.Errorf("%w: mdns: empty domain; write mdns://local", core.ErrInvalid)
	}
	if len(d) > 253 {
		return "", fmt.Errorf("%w: mdns: domain %q is longer than 253 bytes", core.ErrInvalid, domain)
	}
	for l := range strings.SplitSeq(d, ".") {
		if l == "" || len(l) > maxLabel {
			return "", fmt.Errorf("%w: mdns: domain %q has an empty label or one over %d bytes", core.ErrInvalid, domain, maxLabel)
		}
		for _, r := range l {
			if !isAlnum(r) && r != '-' {
				return "", fmt.Errorf("%w: mdns: domain %q has %q; use letters, digits and '-', as in mdns://local", core.ErrInvalid, domain, r)
			}
		}
	}
	return d, nil
}

// endpoint is the IP and port of a tcp@IP:PORT address.
func endpoint(addr string) (netip.AddrPort, error) {
	network, hostPort, _ := strings.Cut(addr, "@")
	if network != "tcp" {
		return netip.AddrPort{}, fmt.Errorf("%w: mdns: address %q: only tcp@IP:PORT can be announced (DNS-SD service types are _tcp); network %q cannot",
			core.ErrInvalid, addr, network)
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: mdns: address %q: %v; write it as tcp@IP:PORT", core.ErrInvalid, addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: mdns: address %q: host %q is not an IP address; mDNS publishes the IP in an A/AAAA record, so advertise tcp@IP:PORT",
			core.ErrInvalid, addr, host)
	}
	if ip.IsUnspecified() {
		return netip.AddrPort{}, fmt.Errorf("%w: mdns: address %q: %s is not an address others can reach; advertise the interface's IP", core.ErrInvalid, addr, host)
	}
	if ip.Is4In6() {
		return netip.AddrPort{}, fmt.Errorf("%w: mdns: address %q: an IPv4-mapped IPv6 address is published as IPv4; write it as tcp@%s",
			core.ErrInvalid, addr, netip.AddrPortFrom(ip.Unmap(), 1).Addr())
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: mdns: address %q: port %q must be 1-65535", core.ErrInvalid, addr, port)
	}
	ep := netip.AddrPortFrom(ip, uint16(p))
	// Discovery rebuilds the address from the records in canonical form;
	// only that form round-trips, so ask for it.
	if canonical := "tcp@" + ep.String(); canonical != addr {
		return netip.AddrPort{}, fmt.Errorf("%w: mdns: address %q is not in canonical form; write it as %s (discovery reports it so)",
			core.ErrInvalid, addr, canonical)
	}
	return ep, nil
}

// instanceLabel is the DNS-SD instance name of an endpoint: the address with
// every non-alphanumeric character replaced by '-'. IPv4 labels start with a
// digit and IPv6 ones with '-' (from '['), so the two never collide.
func instanceLabel(ep netip.AddrPort) (string, error) {
	l := strings.Map(func(r rune) rune {
		if isAlnum(r) {
			return r
		}
		return '-'
	}, ep.String())
	if len(l) > maxLabel {
		return "", fmt.Errorf("%w: mdns: address %s makes an instance label over %d bytes", core.ErrInvalid, ep, maxLabel)
	}
	return l, nil
}

// encodeTXT turns metadata into DNS-SD TXT strings "key=value", sorted by
// key, in the escaped form miekg/dns packs (only '\' is special to it).
func encodeTXT(m core.Metadata) ([]string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lower := make(map[string]string, len(keys))
	txt := make([]string, 0, len(keys))
	for _, k := range keys {
		if err := checkTXTKey(k); err != nil {
			return nil, fmt.Errorf("%w: mdns: metadata key %q: %s", core.ErrInvalid, k, err)
		}
		if other, dup := lower[strings.ToLower(k)]; dup {
			return nil, fmt.Errorf("%w: mdns: metadata keys %q and %q differ only in case; DNS-SD TXT keys are case-insensitive, keep one",
				core.ErrInvalid, other, k)
		}
		lower[strings.ToLower(k)] = k
		raw := k + "=" + m[k]
		if len(raw) > maxTXTString {
			return nil, fmt.Errorf("%w: mdns: metadata %q is %d bytes as the TXT string %q=value; DNS-SD limits each TXT string to %d bytes, so shorten its value to at most %d bytes",
				core.ErrInvalid, k, len(raw), k, maxTXTString, maxTXTString-len(k)-1)
		}
		txt = append(txt, strings.ReplaceAll(raw, `\`, `\\`))
	}
	if len(txt) == 0 {
		// A TXT record holds at least one string; one empty string means
		// "no data" (RFC 6763 §6.1).
		txt = []string{""}
	}
	return txt, nil
}

// checkTXTKey applies RFC 6763 §6.4: at least one printable US-ASCII
// character other than '='.
func checkTXTKey(k string) error {
	if k == "" {
		return fmt.Errorf("empty key")
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '=':
			return fmt.Errorf("'=' cannot be part of a DNS-SD TXT key")
		case c < 0x20 || c > 0x7e:
			return fmt.Errorf("byte %#x: DNS-SD TXT keys are printable ASCII", c)
		}
	}
	return nil
}

// decodeTXT turns received TXT strings (escaped as miekg/dns unpacks them)
// into metadata. Strings that break DNS-SD's rules are reported to bad and
// skipped; the first of repeated keys wins (RFC 6763 §6.4).
func decodeTXT(fields []string, bad func(txt, reason string)) core.Metadata {
	m := core.Metadata{}
	seen := map[string]bool{}
	for _, f := range fields {
		s := unescapeTXT(f)
		if s == "" {
			continue // the empty string of a record without data
		}
		k, v, _ := strings.Cut(s, "=") // no '=': a boolean attribute, value ""
		if err := checkTXTKey(k); err != nil {
			bad(s, err.Error())
			continue
		}
		if seen[strings.ToLower(k)] {
			bad(s, "repeated key; the first one wins")
			continue
		}
		seen[strings.ToLower(k)] = true
		m[k] = v
	}
	return m
}

// unescapeTXT undoes miekg/dns's presentation escapes: \DDD and \X.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n, _ := strconv.Atoi(s[i+1 : i+4]); n <= math.MaxUint8 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// record is what a Put announces, built and checked before any socket opens.
type record struct {
	svc     *mdns.MDNSService
	service string // _S._tcp.<domain>.
	name    string // <label>._S._tcp.<domain>.
}

// newRecord validates inst and builds its DNS-SD records.
func newRecord(inst core.Instance, domain string) (record, error) {
	if err := inst.Validate(); err != nil {
		return record{}, err
	}
	typ, err := serviceType(inst.Service)
	if err != nil {
		return record{}, err
	}
	ep, err := endpoint(inst.Addr)
	if err != nil {
		return record{}, err
	}
	label, err := instanceLabel(ep)
	if err != nil {
		return record{}, err
	}
	txt, err := encodeTXT(inst.Meta)
	if err != nil {
		return record{}, err
	}
	svc, err := mdns.NewMDNSService(label, typ, domain+".", label+"."+domain+".", int(ep.Port()), []net.IP{ep.Addr().AsSlice()}, txt)
	if err != nil {
		return record{}, fmt.Errorf("%w: mdns: %s %s: %v", core.ErrInvalid, inst.Service, inst.Addr, err)
	}
	r := record{svc: svc, service: typ + "." + domain + ".", name: label + "." + typ + "." + domain + "."}
	// Pack the answer to a browse now, so what cannot be sent is an error
	// here rather than a responder that silently never answers.
	msg := dns.Msg{MsgHdr: dns.MsgHdr{Response: true, Authoritative: true}, Compress: true,
		Answer: svc.Records(dns.Question{Name: r.service, Qtype: dns.TypePTR, Qclass: dns.ClassINET})}
	if _, err := msg.Pack(); err != nil {
		return record{}, fmt.Errorf("%w: mdns: %s %s cannot be encoded as DNS: %v", core.ErrInvalid, inst.Service, inst.Addr, err)
	}
	if n := msg.Len(); n > maxMessage {
		return record{}, fmt.Errorf("%w: mdns: %s %s: the answer would be %d bytes of DNS, over the %d that fit the 9000-byte mDNS message limit (RFC 6762 §17); shorten the metadata",
			core.ErrInvalid, inst.Service, inst.Addr, n, maxMessage)
	}
	return r, nil
}

// zone is the mdns.Zone a responder answers from. The library asks it on
// every query, so swapping its record re-announces new metadata at once.
type zone struct {
	svc atomic.Pointer[mdns.MDNSService]
	ttl atomic.Uint32 // seconds
}

func newZone(r record, ttl time.Duration) *zone {
	z := &zone{}
	z.set(r, ttl)
	return z
}

func (z *zone) set(r record, ttl time.Duration) {
	z.svc.Store(r.svc)
	z.setTTL(ttl)
}

// setTTL stores ttl in whole seconds, rounded up, at least 1.
func (z *zone) setTTL(ttl time.Duration) {
	s := max(1, int64((ttl+time.Second-1)/time.Second))
	z.ttl.Store(uint32(min(s, math.MaxInt32)))
}

// Records implements mdns.Zone with the library's records at our TTL.
func (z *zone) Records(q dns.Question) []dns.RR {
	svc := z.svc.Load()
	if svc == nil {
		return nil
	}
	rrs := svc.Records(q) // built afresh on each call: ours to change
	ttl := z.ttl.Load()
	for _, rr := range rrs {
		rr.Header().Ttl = ttl
	}
	return rrs
}
