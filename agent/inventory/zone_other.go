//go:build !unix

package inventory

// localZoneName is unknown here: Windows names its zones its own way; the
// offset the inventory sends stands in.
func localZoneName() string { return "" }
