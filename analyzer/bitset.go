package analyzer

import "slices"

// bitset is a small set of tracked facts (one bit per tracked insert or
// released key).
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int) { b[i/64] |= 1 << (uint(i) % 64) }

func (b bitset) has(i int) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }

func (b bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// or adds o to b.
func (b bitset) or(o bitset) {
	for i, w := range o {
		b[i] |= w
	}
}

func (b bitset) andNot(o bitset) {
	for i, w := range o {
		b[i] &^= w
	}
}

func (b bitset) clone() bitset { return slices.Clone(b) }

// setMask sets bit i of masks[key], creating the bitset of the given width
// on first use.
func setMask[K comparable](masks map[K]bitset, key K, width, i int) {
	m := masks[key]
	if m == nil {
		m = newBitset(width)
		masks[key] = m
	}
	m.set(i)
}

// unmarked returns the items whose mark is false, in order.
func unmarked[T any](items []T, marks []bool) []T {
	var out []T
	for i, x := range items {
		if !marks[i] {
			out = append(out, x)
		}
	}
	return out
}
