// Package ask puts a yes/no question to the end user (github.com/ncruces/zenity).
package ask

import (
	"context"
	"errors"

	"github.com/ncruces/zenity"
)

// YesNo shows a question until it is answered or ctx ends: true for the
// OK button, false for Cancel (or the window closed), ctx's error when it
// ended first, and zenity's error when the dialog could not be shown.
func YesNo(ctx context.Context, text string, opts ...zenity.Option) (bool, error) {
	err := zenity.Question(text, append(opts, zenity.Context(ctx))...)
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case err == nil:
		return true, nil
	case errors.Is(err, zenity.ErrCanceled):
		return false, nil
	default:
		return false, err
	}
}
