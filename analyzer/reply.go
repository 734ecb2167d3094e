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
	for _, b := range fi.fn.Blocks {
		for i, instr := range b.Instrs {
			switch instr := instr.(type) {
			case *ssa.UnOp:
				if instr.Op != token.ARROW {
					continue
				}
				ch := fi.canon.of(instr.X)
				mask := newBitset(len(inserts))
				for j, ins := range inserts {
					if ins.value != nil && derivesFrom(ch, ins.value) {
						mask.set(j)
					}
				}
				g.kill(b, i, mask)
			case *ssa.Select:
				for si, st := range instr.States {
					if st.Dir != types.RecvOnly {
						continue
					}
					body := selectCaseBody(instr, si)
					if body == nil {
						continue
					}
					ch := fi.canon.of(st.Chan)
					mask := newBitset(len(inserts))
					for j, ins := range inserts {
						if ins.value != nil && derivesFrom(ch, ins.value) {
							mask.set(j)
						}
					}
					g.kill(body, 0, mask)
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
