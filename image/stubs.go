package image

import "io"

func openVHDX(o *opener, src *source) (io.ReaderAt, int64, error) { return nil, 0, ErrUnsupported }
