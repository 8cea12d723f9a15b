package app

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/tetherdesk/tether/server/store"
)

// AuditTailRecords is how many of the newest audit records the start-up
// check reads.
const AuditTailRecords = 1000

var auditChainIntact = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "tether_audit_chain_intact",
	Help: "1 when the last check of the audit chain (newest records and anchor) found it intact, 0 when it found it broken or could not run.",
})

// auditChainState is the result of a Service's last CheckAuditChain.
type auditChainState struct {
	check store.AuditCheck
	err   error
}

// CheckAuditChain checks the newest n audit records and the chain's anchor
// (store.VerifyAuditTail), keeps the result for AuditChainStatus and sets
// the tether_audit_chain_intact gauge. A broken chain is reported, not an
// error: the error is a failure to read the store, and it is kept too.
func (s *Service) CheckAuditChain(ctx context.Context, n int) (store.AuditCheck, error) {
	Public(ctx)
	check, err := s.store.VerifyAuditTail(ctx, n)
	s.auditChain.Store(&auditChainState{check: check, err: err})
	if err == nil && check.Intact() {
		auditChainIntact.Set(1)
	} else {
		auditChainIntact.Set(0)
	}
	return check, err
}

// AuditChainStatus says in a few words what the last CheckAuditChain found,
// for /readyz: "ok", "broken at seq 17: hash mismatch", "check failed: ...",
// or "unchecked" before the first check.
func (s *Service) AuditChainStatus() string {
	st := s.auditChain.Load()
	if st == nil {
		return "unchecked"
	}
	switch {
	case st.err != nil:
		return fmt.Sprintf("check failed: %v", st.err)
	case st.check.Intact():
		return "ok"
	default:
		return st.check.String()
	}
}
