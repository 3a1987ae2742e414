package volume

import (
	"bytes"
	"fmt"
)

func ExampleList() {
	// Any sized io.ReaderAt is a Disk: an image.Image, or bytes in memory.
	disk := bytes.NewReader(gptDisk(1<<20, 128, 128, [2]uint64{34, 1023}, [2]uint64{1024, 2000}))
	vols, err := List(disk)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range vols {
		fmt.Println(v.Selector, v.Scheme, v.Start, v.Size, v.Type)
	}
	root, err := Select(vols, "p2")
	fmt.Println(root.Start, err)
	// Output:
	// p1 gpt 17408 506880 Linux filesystem
	// p2 gpt 524288 500224 Linux filesystem
	// 524288 <nil>
}
