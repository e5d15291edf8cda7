package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// httpError is a failure of a whole request, answered with status and {"error": msg}.
type httpError struct {
	status     int
	msg        string
	retryAfter time.Duration // sent as Retry-After when set; a 503 always gets one
}

func (e *httpError) Error() string { return e.msg }

func errStatus(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

var errSaturated = &httpError{status: http.StatusServiceUnavailable, msg: "gateway is at its in-flight memory bound; retry later"}

// bodyFormat is how a body is framed.
type bodyFormat uint8

const (
	formatJSON bodyFormat = iota
	formatNDJSON
)

// contentFormat maps Content-Type to a body format. A missing Content-Type is read as JSON:
// curl and many HTTP libraries send none. segment also accepts text/plain, which
// analytics.js uses in the browser to avoid a CORS preflight.
func contentFormat(ct string, segment bool) (bodyFormat, bool) {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case mt == "" || strings.EqualFold(mt, "application/json"):
		return formatJSON, true
	case strings.EqualFold(mt, "text/plain"):
		return formatJSON, segment
	case !segment && (strings.EqualFold(mt, "application/x-ndjson") || strings.EqualFold(mt, "application/ndjson") ||
		strings.EqualFold(mt, "application/jsonl") || strings.EqualFold(mt, "application/x-jsonlines")):
		return formatNDJSON, true
	}
	return formatJSON, false
}

// gzipped reports whether Content-Encoding asks for gzip, and false for a coding the
// gateway does not speak.
func gzipped(ce string) (gz, ok bool) {
	ce = strings.TrimSpace(ce)
	switch {
	case ce == "" || strings.EqualFold(ce, "identity"):
		return false, true
	case strings.EqualFold(ce, "gzip") || strings.EqualFold(ce, "x-gzip"):
		return true, true
	}
	return false, false
}

var gzipReaders sync.Pool // *gzip.Reader

// readBody reads the request body, gunzipping it when gz, into a buffer charged to l.
//
// The limit applies to the decoded bytes, so a gzip bomb stops at limit+1 bytes of output.
// The compressed input is bounded too (twice the limit, more than any real compressor
// needs), so that a stream of empty gzip members cannot keep a request reading forever.
// Memory is charged to l as the buffer grows; when the in-flight bound is reached the read
// stops with 503 rather than waiting.
func readBody(w http.ResponseWriter, r *http.Request, gz bool, limit int64, l *lease) ([]byte, *httpError) {
	if r.ContentLength > limit && !gz {
		return nil, errStatus(http.StatusRequestEntityTooLarge, "body is %d bytes, over the limit of %d", r.ContentLength, limit)
	}
	rawLimit := limit
	if gz {
		rawLimit = 2*limit + 64<<10
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, rawLimit)
	hint := int64(16 << 10)
	if r.ContentLength >= 0 {
		hint = r.ContentLength + 1 // +1: room to see EOF without growing
		if gz {
			hint = 8 * r.ContentLength // JSON typically compresses 5-10×
		}
	}
	hint = min(max(hint, 512), limit+1)

	if gz {
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(src)
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			return nil, bodyReadError(err, true, limit)
		}
		defer gzipReaders.Put(zr)
		src = zr
	}

	if !l.acquire(hint) {
		return nil, errSaturated
	}
	// A new buffer for every request, never pooled: the strings newText takes from the body
	// are views of it and may outlive the request.
	buf := make([]byte, 0, hint)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, errStatus(http.StatusRequestEntityTooLarge, "body is over the limit of %d bytes decoded", limit)
			}
			newCap := min(2*int64(cap(buf)), limit+1)
			if !l.acquire(newCap - int64(cap(buf))) {
				return nil, errSaturated
			}
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			buf = nb
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyReadError(err, gz, limit)
		}
	}
	if int64(len(buf)) > limit {
		return nil, errStatus(http.StatusRequestEntityTooLarge, "body is over the limit of %d bytes decoded", limit)
	}
	return buf, nil
}

func bodyReadError(err error, gz bool, limit int64) *httpError {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) && gz:
		return errStatus(http.StatusRequestEntityTooLarge, "compressed body is over %d bytes", mbe.Limit)
	case errors.As(err, &mbe):
		return errStatus(http.StatusRequestEntityTooLarge, "body is over the limit of %d bytes", limit)
	case gz:
		// Corrupt gzip or a broken connection: either way the body is unusable.
		return errStatus(http.StatusBadRequest, "reading gzip body: %v", err)
	}
	return errStatus(http.StatusBadRequest, "reading body: %v", err)
}
