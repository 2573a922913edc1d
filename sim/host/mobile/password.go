package mobile

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PasswordIterations is the PBKDF2-HMAC-SHA256 iteration count of
// HashPassword. The count is stored in each hash, so raising it later
// keeps old hashes valid.
const PasswordIterations = 100_000

// ErrBadHash: a stored password hash is not one HashPassword made.
var ErrBadHash = errors.New("mobile: malformed password hash")

// errWrongPassword is CheckPassword's answer to a wrong password.
var errWrongPassword = errors.New("mobile: wrong password")

// HashPassword returns a salted hash of password, self-describing:
// "pbkdf2-sha256$<iterations>$<salt>$<key>" (salt and key in unpadded
// URL-safe base64; 16-byte salt from crypto/rand, 32-byte key). It is the
// store.PasswordHasher the host seeds app users with.
func HashPassword(password []byte) ([]byte, error) {
	return hashPassword(password, PasswordIterations)
}

func hashPassword(password []byte, iter int) ([]byte, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("mobile: salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, string(password), salt, iter, 32)
	if err != nil {
		return nil, fmt.Errorf("mobile: hash password: %w", err)
	}
	enc := base64.RawURLEncoding
	return fmt.Appendf(nil, "pbkdf2-sha256$%d$%s$%s", iter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash (nil) or not
// (an error); the comparison is constant-time.
func CheckPassword(hash, password []byte) error {
	parts := strings.Split(string(hash), "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return ErrBadHash
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return ErrBadHash
	}
	enc := base64.RawURLEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) != 32 {
		return ErrBadHash
	}
	got, err := pbkdf2.Key(sha256.New, string(password), salt, iter, 32)
	if err != nil {
		return fmt.Errorf("mobile: check password: %w", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return errWrongPassword
	}
	return nil
}
