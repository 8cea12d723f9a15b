package signal

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// sockets counts the signalling websockets this process serves, by side:
// on several nodes, where a session's viewers and agent are.
var sockets = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "tether_signal_sockets", Help: "Signalling websockets open on this node, by side (agent, viewer).",
}, []string{"side"})

func init() {
	// Both sides from the start: a node with none of one side says 0.
	sockets.WithLabelValues("agent")
	sockets.WithLabelValues("viewer")
}
