package helper

// secureAttention routes Ctrl+Alt+Del to the service: Windows lets only a
// service raise the secure attention sequence.
func secureAttention(viaService func() error) func() error { return viaService }
