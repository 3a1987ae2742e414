package image

import "io"

func openVMDK(o *opener, src *source) (io.ReaderAt, int64, error) { return nil, 0, ErrUnsupported }
func openVHD(o *opener, src *source) (io.ReaderAt, int64, error)  { return nil, 0, ErrUnsupported }
func openVHDX(o *opener, src *source) (io.ReaderAt, int64, error) { return nil, 0, ErrUnsupported }
