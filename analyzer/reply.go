package analyzer

import (
	"go/token"
	"go/types"

	"golang.org/x/tools/go/ssa"
)

// addReplyKills ends the tracking of an entry when the function receives
// from a channel of the inserted value (<-ch, <-call.Done): the reply
// handler has completed the entry, and deleted it, before sending or
// closing the channel.
func addReplyKills(fi *funcInfo, g *flow, inserts []*mapOp) {
	// The inserts whose value the channel ch derives from.
	replies := func(ch ssa.Value) bitset {
		c := fi.canon.of(ch)
		mask := newBitset(len(inserts))
		for j, ins := range inserts {
			if ins.value != nil && derivesFrom(c, ins.value) {
				mask.set(j)
			}
		}
		return mask
	}
	for _, b := range fi.fn.Blocks {
		for i, instr := range b.Instrs {
			switch instr := instr.(type) {
			case *ssa.UnOp:
				if instr.Op != token.ARROW {
					continue
				}
				g.kill(b, i, replies(instr.X))
			case *ssa.Select:
				for si, st := range instr.States {
					if st.Dir != types.RecvOnly {
						continue
					}
					body := selectCaseBody(instr, si)
					if body == nil {
						continue
					}
					g.kill(body, 0, replies(st.Chan))
				}
			}
		}
	}
}

// waitsOnValue reports whether ret leaves through the timeout or
// cancellation case of a select that also waits on a channel of the
// inserted value (call.Done of the call a helper registered): the caller
// stops waiting for that entry's reply.
func waitsOnValue(fi *funcInfo, ret *ssa.Return, value *expr) bool {
	if value == nil {
		return false
	}
	for e := range dominatingConditions(ret.Block()) {
		sel, _, ok := selectCase(e.cond)
		if !ok {
			continue
		}
		for _, st := range sel.States {
			if st.Dir == types.RecvOnly && derivesFrom(fi.canon.of(st.Chan), value) {
				return true
			}
		}
	}
	return false
}
