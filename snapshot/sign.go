package snapshot

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SignatureName is the detached signature beside the manifest: the base64
// of the ed25519 signature of manifest.json's exact bytes.
const SignatureName = ManifestName + ".sig"

// ParsePrivateKey reads an ed25519 private key in PKCS#8 PEM, as written by
// `openssl genpkey -algorithm ed25519`.
func ParsePrivateKey(pemData []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("sign key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sign key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sign key: %T is not an ed25519 key", k)
	}
	return ek, nil
}

// ParsePublicKey reads an ed25519 public key in PKIX PEM, as written by
// `openssl pkey -pubout`.
func ParsePublicKey(pemData []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return nil, errors.New("public key: no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: %T is not an ed25519 key", k)
	}
	return ek, nil
}

func signManifest(dir string, manifest, keyPEM []byte) error {
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return err
	}
	sig := ed25519.Sign(key, manifest)
	return writeFileAtomic(dir, SignatureName, []byte(base64.StdEncoding.EncodeToString(sig)+"\n"))
}

// CheckSignature checks CASE/manifest.json.sig against the manifest's bytes.
func CheckSignature(dir string, manifest []byte, pub ed25519.PublicKey) error {
	f, err := openNoFollow(filepath.Join(dir, SignatureName))
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := f.Read(buf)
	sig, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(buf[:n])))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signature: %s is not a base64 ed25519 signature", SignatureName)
	}
	if !ed25519.Verify(pub, manifest, sig) {
		return errors.New("signature: manifest.json does not match its signature")
	}
	return nil
}

// readKeyFile is os.ReadFile with a size cap: key files are small.
func readKeyFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 16<<10)
	n, err := f.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return buf[:n], nil
}

// ReadKeyFile reads a PEM key file (at most 16 KiB).
func ReadKeyFile(p string) ([]byte, error) { return readKeyFile(p) }
