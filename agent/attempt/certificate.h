// How the agent describes an X.509 certificate it was shown: one-line
// names, fingerprints and the chain as OpenSSL verified it. Shared by the
// HTTPS-proxy evidence (transport.cc) and the download check (tls_check.cc),
// so both name a certificate the same way.
#ifndef AGENT_ATTEMPT_CERTIFICATE_H_
#define AGENT_ATTEMPT_CERTIFICATE_H_

#include <openssl/x509.h>

#include <string>

#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

// RFC 2253 ("CN=proxy.corp,O=Example"), escaped as evidence (at most 256
// bytes); "" for nullptr.
std::string OneLineName(const X509_NAME* name);

// SHA-256 of the certificate's DER, lower-case hex.
std::string CertificateSha256(X509* cert);

// SHA-256 of the certificate's DER SubjectPublicKeyInfo, lower-case hex:
// the key pin (what `curl --pinnedpubkey sha256//` compares, in hex).
std::string SpkiSha256(X509* cert);

// Records what a verify callback sees into `evidence`: the leaf's subject,
// issuer and fingerprint (once), the root the chain ends at (the trust
// anchor when one was found, else the last certificate presented; a lone
// leaf that is not self-issued names none) and the first verification
// error in OpenSSL's words. Returns `preverify_ok`.
int RecordChain(int preverify_ok, X509_STORE_CTX* store, bool* seen, bool* failed,
                v1::CertificateEvidence* evidence);

}  // namespace relayscope::agent

#endif  // AGENT_ATTEMPT_CERTIFICATE_H_
