package main

// systemSocketDir holds the helper socket when the service runs as root.
const systemSocketDir = "/run/tether-agent"
