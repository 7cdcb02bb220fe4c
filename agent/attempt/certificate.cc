#include "agent/attempt/certificate.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/attempt/proxy_evidence.h"
#include "agent/attempt/reply_classifier.h"

namespace relayscope::agent {
namespace {

std::string Hex(const unsigned char* digest, unsigned int length) {
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    absl::StrAppend(&out, absl::Hex(digest[i], absl::kZeroPad2));
  }
  return out;
}

}  // namespace

std::string OneLineName(const X509_NAME* name) {
  if (name == nullptr) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "";
  std::string out;
  if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    if (length > 0 && data != nullptr) {
      out = EscapeEvidence(absl::string_view(data, static_cast<size_t>(length)), kMaxReplyField);
    }
  }
  BIO_free(bio);
  return out;
}

std::string CertificateSha256(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &length) != 1) return "";
  return Hex(digest, length);
}

std::string SpkiSha256(X509* cert) {
  // The whole DER SubjectPublicKeyInfo (algorithm and key), as key pins
  // hash it; X509_pubkey_digest would hash the key bits alone.
  unsigned char* der = nullptr;
  const int size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (size <= 0) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const bool ok =
      EVP_Digest(der, static_cast<size_t>(size), digest, &length, EVP_sha256(), nullptr) == 1;
  OPENSSL_free(der);
  return ok ? Hex(digest, length) : "";
}

int RecordChain(int preverify_ok, X509_STORE_CTX* store, bool* seen, bool* failed,
                v1::CertificateEvidence* evidence) {
  if (X509* leaf = X509_STORE_CTX_get0_cert(store); leaf != nullptr && !*seen) {
    *seen = true;
    evidence->set_subject(OneLineName(X509_get_subject_name(leaf)));
    evidence->set_issuer(OneLineName(X509_get_issuer_name(leaf)));
    evidence->set_sha256(CertificateSha256(leaf));
  }
  if (STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(store); chain != nullptr) {
    const int n = sk_X509_num(chain);
    if (n > 0) {
      X509* last = sk_X509_value(chain, n - 1);
      if (n > 1 || X509_check_issued(last, last) == X509_V_OK) {
        evidence->set_root(OneLineName(X509_get_subject_name(last)));
      }
    }
  }
  if (!preverify_ok && !*failed) {
    *failed = true;
    evidence->set_verify_error(EscapeEvidence(
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)), kMaxReplyField));
  }
  return preverify_ok;
}

}  // namespace relayscope::agent
