package main

// A Windows service's stderr goes nowhere: log to the Event Log.
const useSystemLog = true

// Windows dependencies are service names; the agent needs none beyond the
// network stack, which DelayedAutoStart waits for.
func serviceDependencies() []string { return nil }
