package selector

// The ring hash must give the same value in every process and every release,
// so it is spelled out here instead of using hash/maphash (seeded per
// process) or an interface-based hash.Hash64 (allocates).

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// fnv1a64 is FNV-1a 64 over the bytes of s, by hand so it does not allocate.
func fnv1a64[T string | []byte](s T) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// fmix64 is murmur3's finaliser. FNV alone leaves similar inputs ("…:8080#1",
// "…:8080#2") with correlated high bits; the mixer spreads them over the ring.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// hashKey is the ring position of a key or virtual node name.
func hashKey[T string | []byte](s T) uint64 { return fmix64(fnv1a64(s)) }
