#include "agent/attempt/tls_check.h"

#ifdef _WIN32
// Before OpenSSL's headers, which undefine wincrypt.h's X509_NAME and
// friends (macros that would otherwise break OpenSSL's types).
// clang-format off
#include <windows.h>
#include <wincrypt.h>
// clang-format on
#endif

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/attempt/attempt.h"
#include "agent/attempt/certificate.h"
#include "agent/attempt/proxy_evidence.h"
#include "agent/attempt/reply_classifier.h"
#include "common/proto_time.h"
#include "common/socket.h"

namespace relayscope::agent {
namespace {

constexpr size_t kMaxTlsName = 64;
constexpr size_t kMaxAlert = 128;
// After a foreign (non-TLS) answer, how long to go on reading for its
// status line and title: such a device answers at once and closes.
constexpr absl::Duration kEvidenceWait = absl::Milliseconds(500);

using ContextPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
using SslPtr = std::unique_ptr<SSL, decltype(&SSL_free)>;

// What one handshake saw, filled by the callbacks.
struct HandshakeRecord {
  bool seen = false;
  bool failed = false;
  v1::CertificateEvidence certificate;
  std::string alert;  // the first fatal alert the peer sent
};

int RecordIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

HandshakeRecord* RecordOf(const SSL* ssl) {
  return static_cast<HandshakeRecord*>(SSL_get_ex_data(ssl, RecordIndex()));
}

// Completes the handshake whatever the chain: judging it is the check's
// business, after the chain has been seen in full.
int VerifyAndContinue(int preverify_ok, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (HandshakeRecord* record = ssl != nullptr ? RecordOf(ssl) : nullptr) {
    RecordChain(preverify_ok, store, &record->seen, &record->failed, &record->certificate);
  }
  return 1;
}

void RecordAlert(const SSL* ssl, int where, int value) {
  if ((where & SSL_CB_READ_ALERT) == 0) return;
  // Fatal alerts only: a warning (unrecognized_name) does not end the
  // handshake.
  if (absl::string_view(SSL_alert_type_string(value)) != "F") return;
  HandshakeRecord* record = RecordOf(ssl);
  if (record != nullptr && record->alert.empty()) {
    record->alert = EscapeEvidence(SSL_alert_desc_string_long(value), kMaxAlert);
  }
}

#ifdef _WIN32
// The roots Windows trusts (what browsers and WinHTTP use), into OpenSSL's
// store beside its own default paths.
void AddWindowsRoots(SSL_CTX* ctx) {
  HCERTSTORE store = CertOpenSystemStoreW(0, L"ROOT");
  if (store == nullptr) return;
  X509_STORE* roots = SSL_CTX_get_cert_store(ctx);
  PCCERT_CONTEXT cert = nullptr;
  while ((cert = CertEnumCertificatesInStore(store, cert)) != nullptr) {
    const unsigned char* der = cert->pbCertEncoded;
    if (X509* x = d2i_X509(nullptr, &der, static_cast<long>(cert->cbCertEncoded))) {
      X509_STORE_add_cert(roots, x);
      X509_free(x);
    }
  }
  CertCloseStore(store, 0);
}
#endif

// A client context as a browser's: TLS 1.2 or later, ALPN http/1.1, the
// given or the system roots.
ContextPtr NewContext(const TlsCheckOptions& options, std::string* error) {
  ContextPtr ctx(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  if (ctx == nullptr) {
    *error = "cannot set up TLS (SSL_CTX_new failed)";
    return ctx;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  static constexpr unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn) - 1);
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
      *error = "cannot read the CA file given for download checks";
      return ContextPtr(nullptr, &SSL_CTX_free);
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx.get());
#ifdef _WIN32
    AddWindowsRoots(ctx.get());
#endif
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, VerifyAndContinue);
  SSL_CTX_set_info_callback(ctx.get(), RecordAlert);
  return ctx;
}

// The context for `options`, made once per process and CA file: reading
// the roots (a bundle of some 150 certificates, or the Windows store) is
// not repeated for every check. A context that cannot be made is not kept,
// so each check reports why. SSL_new on a shared context is thread-safe;
// everything per handshake lives in the SSL (HandshakeRecord).
SSL_CTX* ContextFor(const TlsCheckOptions& options, std::string* error) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* const contexts = new std::map<std::string, ContextPtr>();
  absl::MutexLock lock(&mu);
  auto it = contexts->find(options.ca_file);
  if (it == contexts->end()) {
    ContextPtr ctx = NewContext(options, error);
    if (ctx == nullptr) return nullptr;
    it = contexts->emplace(options.ca_file, std::move(ctx)).first;
  }
  return it->second.get();
}

// How one TLS handshake over a tunnel ended.
struct Handshake {
  enum class End {
    kDone,     // completed
    kFailed,   // OpenSSL gave up (an alert, a version or a broken record)
    kNotTls,   // the first bytes back are not TLS
    kReset,    // the connection was reset
    kClosed,   // the peer closed it
    kTimeout,  // nothing more before the deadline
  };
  End end = End::kFailed;
  std::string received;  // the first bytes back, at most kMaxEvidenceBytes
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  std::string error;  // OpenSSL's reason, for kFailed
  unsigned long reason = 0;
};

// Runs the TLS client `ssl` over `tunnel` through memory BIOs until the
// handshake ends or `deadline` passes.
Handshake RunHandshake(SSL* ssl, Tunnel& tunnel, absl::Time deadline, Clock& clock) {
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);  // the SSL owns both from here
  SSL_set_connect_state(ssl);
  Handshake h;
  uint8_t buffer[16384];
  auto tunnel_end = [](const absl::Status& status) {
    return TunnelFailureOf(status).outcome == v1::OUTCOME_CONNECTION_RESET
               ? Handshake::End::kReset
               : Handshake::End::kTimeout;
  };
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl);
    const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
    const unsigned long reason = err == SSL_ERROR_SSL ? ERR_peek_error() : 0;
    // What OpenSSL wrote (the ClientHello, Finished, or its own alert).
    while (BIO_ctrl_pending(out) > 0) {
      const int n = BIO_read(out, buffer, sizeof(buffer));
      if (n <= 0) break;
      auto sent = tunnel.Send(absl::MakeConstSpan(buffer, static_cast<size_t>(n)), deadline);
      if (!sent.ok()) {
        if (err != SSL_ERROR_WANT_READ) break;  // ended anyway; the last flight is moot
        h.end = tunnel_end(sent.status());
        return h;
      }
      h.bytes_sent += static_cast<uint64_t>(n);
    }
    if (r == 1) {
      h.end = Handshake::End::kDone;
      return h;
    }
    if (err != SSL_ERROR_WANT_READ) {
      h.end = Handshake::End::kFailed;
      h.reason = reason;
      const char* text = reason != 0 ? ERR_reason_error_string(reason) : nullptr;
      h.error = text != nullptr ? text : absl::StrCat("TLS error ", err);
      return h;
    }
    auto n = tunnel.Recv(absl::MakeSpan(buffer), deadline);
    if (!n.ok()) {
      h.end = tunnel_end(n.status());
      return h;
    }
    if (*n == 0) {
      h.end = Handshake::End::kClosed;
      return h;
    }
    const size_t before = h.received.size();
    h.received.append(reinterpret_cast<const char*>(buffer),
                      std::min(*n, kMaxEvidenceBytes - std::min(before, kMaxEvidenceBytes)));
    h.bytes_received += *n;
    if (before < 3 && h.received.size() >= 3 && !LooksLikeTls(h.received)) {
      // Not TLS: read on briefly for the status line and title.
      const absl::Time until = std::min(deadline, clock.Now() + kEvidenceWait);
      while (h.received.size() < kMaxEvidenceBytes) {
        auto more = tunnel.Recv(absl::MakeSpan(buffer), until);
        if (!more.ok() || *more == 0) break;
        h.received.append(reinterpret_cast<const char*>(buffer),
                          std::min(*more, kMaxEvidenceBytes - h.received.size()));
        h.bytes_received += *more;
      }
      h.end = Handshake::End::kNotTls;
      return h;
    }
    BIO_write(in, buffer, static_cast<int>(*n));
  }
}

SslPtr NewSsl(SSL_CTX* ctx, const std::string& sni, HandshakeRecord* record) {
  SslPtr ssl(SSL_new(ctx), &SSL_free);
  if (ssl == nullptr) return ssl;
  SSL_set_ex_data(ssl.get(), RecordIndex(), record);
  SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  return ssl;
}

// The SNI control: the same route again, with a name no filter lists.
v1::SniControl RunControl(SSL_CTX* ctx, const Destination& destination, const ProxyUrl& proxy,
                          absl::Time deadline, Transport& transport) {
  v1::SniControl control;
  control.set_sni(kSniControlName);
  control.set_result(v1::SniControl::RESULT_FAILED);
  Clock& clock = transport.clock();
  const absl::Time start = clock.Now();
  OpenResult open = transport.Open(destination, proxy, deadline);
  if (open.tunnel == nullptr) {
    control.set_detail(EscapeEvidence(absl::StrCat("the route did not open again: ", open.detail),
                                      kMaxReplyField));
    return control;
  }
  HandshakeRecord record;
  SslPtr ssl = NewSsl(ctx, kSniControlName, &record);
  if (ssl == nullptr) {
    control.set_detail("cannot set up TLS");
    return control;
  }
  const Handshake h = RunHandshake(ssl.get(), *open.tunnel, deadline, clock);
  const bool tls_answer = h.end != Handshake::End::kNotTls && LooksLikeTls(h.received);
  if (tls_answer) {
    control.set_result(v1::SniControl::RESULT_ANSWERED);
    control.set_detail(EscapeEvidence(
        h.end == Handshake::End::kDone
            ? absl::StrCat("answered with TLS (", SSL_get_version(ssl.get()), ")")
            : absl::StrCat("answered with TLS", record.alert.empty()
                                                    ? ""
                                                    : absl::StrCat(" (alert: ", record.alert, ")")),
        kMaxReplyField));
    return control;
  }
  switch (h.end) {
    case Handshake::End::kReset:
      control.set_detail("reset too");
      break;
    case Handshake::End::kClosed:
      control.set_detail("closed too");
      break;
    case Handshake::End::kTimeout:
      control.set_detail(absl::StrCat(
          "no answer within ", absl::ToInt64Milliseconds(clock.Now() - start), " ms either"));
      break;
    default:
      control.set_detail("no TLS answer either");
      break;
  }
  return control;
}

// True when one of the leaf's names (subjectAltName, RFC 6125 wildcards)
// is one of the expected names.
bool CarriesName(X509* leaf, const v1::DownloadService& service) {
  if (leaf == nullptr) return false;
  std::vector<std::string> names(service.expected().names().begin(),
                                 service.expected().names().end());
  if (names.empty()) names.push_back(service.host());
  return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
    return X509_check_host(leaf, name.data(), name.size(), 0, nullptr) == 1;
  });
}

// True when a pinned key is in the chain the server presented or the one
// verified, or the leaf's issuer is a pinned issuer.
bool PinMatches(SSL* ssl, X509* leaf, const v1::ExpectedCertificate& expected) {
  if (leaf != nullptr) {
    const std::string issuer = OneLineName(X509_get_issuer_name(leaf));
    for (const std::string& pinned : expected.issuer()) {
      if (pinned == issuer) return true;
    }
  }
  std::vector<X509*> chain;
  if (leaf != nullptr) chain.push_back(leaf);
  for (STACK_OF(X509) * stack : {SSL_get_peer_cert_chain(ssl), SSL_get0_verified_chain(ssl)}) {
    if (stack == nullptr) continue;
    for (int i = 0; i < sk_X509_num(stack); ++i) chain.push_back(sk_X509_value(stack, i));
  }
  for (X509* cert : chain) {
    const std::string spki = SpkiSha256(cert);
    for (const std::string& pinned : expected.spki_sha256()) {
      if (pinned == spki) return true;
    }
  }
  return false;
}

}  // namespace

bool LooksLikeTls(absl::string_view received) {
  if (received.empty()) return false;
  const auto type = static_cast<uint8_t>(received[0]);
  if (type != 22 && type != 21) return false;
  return received.size() < 2 || static_cast<uint8_t>(received[1]) == 3;
}

v1::Attempt RunTlsCheck(const v1::DownloadService& service, const Destination& destination,
                        const ProxyUrl& proxy, absl::Time deadline, Transport& transport,
                        const TlsCheckOptions& options) {
  Clock& clock = transport.clock();
  const absl::Time start = clock.Now();
  v1::Attempt attempt = NewAttempt(destination, proxy, start);
  attempt.set_target(v1::TARGET_DOWNLOAD);
  v1::TlsEvidence& tls = *attempt.mutable_tls();
  tls.set_sni(EscapeEvidence(service.host(), kMaxReplyField));
  auto finish = [&](v1::Outcome outcome, std::string detail) {
    attempt.set_outcome(outcome);
    if (outcome != v1::OUTCOME_OK && attempt.failed_phase() == v1::PHASE_UNSPECIFIED) {
      attempt.set_failed_phase(v1::PHASE_SERVER_TLS);
    }
    attempt.set_detail(EscapeEvidence(detail, 512));
    *attempt.mutable_total_duration() = ToProtoDuration(clock.Now() - start);
    return attempt;
  };
  auto set_error = [&](int os_error) {
    attempt.set_os_error(os_error);
    attempt.set_os_error_name(SocketErrorName(os_error));
  };

  OpenResult open = transport.Open(destination, proxy, deadline);
  RecordOpen(open, &attempt);
  if (open.tunnel == nullptr) {
    attempt.set_failed_phase(open.failed_phase);
    return finish(open.outcome, open.detail);
  }
  set_error(0);

  std::string error;
  SSL_CTX* ctx = ContextFor(options, &error);
  const absl::Time tls_start = clock.Now();
  auto record_phase = [&](bool completed) {
    v1::PhaseTiming* phase = attempt.add_phases();
    phase->set_phase(v1::PHASE_SERVER_TLS);
    *phase->mutable_duration() = ToProtoDuration(clock.Now() - tls_start);
    phase->set_completed(completed);
  };
  HandshakeRecord record;
  SslPtr ssl = ctx != nullptr ? NewSsl(ctx, service.host(), &record) : SslPtr(nullptr, &SSL_free);
  if (ssl == nullptr) {
    record_phase(false);
    return finish(v1::OUTCOME_TLS_FAILURE, error.empty() ? "cannot set up TLS" : error);
  }
  const Handshake h = RunHandshake(ssl.get(), *open.tunnel, deadline, clock);
  attempt.set_bytes_sent(h.bytes_sent);
  attempt.set_bytes_received(h.bytes_received);
  if (record.seen) {
    *tls.mutable_certificate() = record.certificate;
    tls.mutable_certificate()->set_trusted(!record.failed);
    tls.mutable_certificate()->set_custom_ca(!options.ca_file.empty());
  }
  tls.set_alert(record.alert);
  const std::string target = absl::StrCat(FirstHopName(destination, ProxyUrl::Direct()),
                                          proxy.direct() ? "" : " (through the proxy)");

  switch (h.end) {
    case Handshake::End::kDone: {
      record_phase(true);
      tls.set_version(EscapeEvidence(SSL_get_version(ssl.get()), kMaxTlsName));
      if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl.get())) {
        tls.set_cipher(EscapeEvidence(SSL_CIPHER_get_name(cipher), kMaxTlsName));
      }
      X509* leaf = SSL_get0_peer_certificate(ssl.get());
      const v1::ExpectedCertificate& expected = service.expected();
      const bool pinned = !expected.spki_sha256().empty() || !expected.issuer().empty();
      const bool trusted = record.seen && !record.failed;
      tls.set_name_matched(CarriesName(leaf, service));
      tls.set_pin_matched(pinned ? PinMatches(ssl.get(), leaf, expected) : trusted);
      if (tls.name_matched() && tls.pin_matched()) {
        return finish(v1::OUTCOME_OK, absl::StrCat(tls.version(), " with ", service.host(),
                                                   ", the genuine "
                                                   "certificate (issued by '",
                                                   tls.certificate().issuer(), "')"));
      }
      const v1::CertificateEvidence& cert = tls.certificate();
      std::string why;
      if (!tls.pin_matched()) {
        why = pinned ? "a chain that is not the pinned one" : "a chain this machine does not trust";
      } else {
        why = absl::StrCat("a certificate without the name ", service.host());
      }
      return finish(v1::OUTCOME_TLS_INTERCEPTED,
                    absl::StrCat("TLS to ", target, " completed with ", why, ": issued by '",
                                 cert.issuer(), "' for '", cert.subject(), "', ",
                                 trusted ? "which this machine trusts"
                                         : "which this machine does not trust"));
    }
    case Handshake::End::kNotTls: {
      record_phase(false);
      *attempt.mutable_interference() = ExtractEvidence(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(h.received.data()), h.received.size()));
      return finish(v1::OUTCOME_PROTOCOL_INTERFERENCE,
                    absl::StrCat("something other than TLS answered the ClientHello: ",
                                 attempt.interference().status_line().empty()
                                     ? attempt.interference().excerpt()
                                     : attempt.interference().status_line()));
    }
    case Handshake::End::kFailed: {
      record_phase(false);
      const int reason = ERR_GET_REASON(h.reason);
      if (!record.alert.empty()) {
        return finish(v1::OUTCOME_TLS_REFUSED,
                      absl::StrCat("the server answered the ClientHello with the TLS alert '",
                                   record.alert, "'"));
      }
      if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
          reason == SSL_R_NO_CIPHERS_AVAILABLE || reason == SSL_R_WRONG_CIPHER_RETURNED) {
        tls.set_alert(EscapeEvidence(h.error, kMaxAlert));
        return finish(
            v1::OUTCOME_TLS_REFUSED,
            absl::StrCat("the server chose TLS this agent refuses as browsers do (", h.error, ")"));
      }
      return finish(v1::OUTCOME_TLS_FAILURE, absl::StrCat("TLS failed: ", h.error));
    }
    case Handshake::End::kReset:
    case Handshake::End::kClosed:
    case Handshake::End::kTimeout:
      break;
  }
  record_phase(false);
  const bool silent = h.end == Handshake::End::kTimeout;
  const std::string how =
      h.end == Handshake::End::kReset ? "the connection was reset"
      : h.end == Handshake::End::kClosed
          ? "the connection was closed"
          : absl::StrCat("no answer came within ",
                         absl::ToInt64Milliseconds(clock.Now() - tls_start), " ms");
  set_error(silent ? ETIMEDOUT : ECONNRESET);
  const v1::Outcome plain = silent ? v1::OUTCOME_HANDSHAKE_TIMEOUT : v1::OUTCOME_CONNECTION_RESET;
  if (h.bytes_received > 0) {
    // Cut in the middle of the server's answer: not a filter on the name.
    return finish(plain, absl::StrCat(how, " during the TLS handshake"));
  }
  *tls.mutable_control() = RunControl(
      ctx, destination, proxy, std::max(deadline, clock.Now() + kSniControlGrace), transport);
  if (tls.control().result() == v1::SniControl::RESULT_ANSWERED) {
    return finish(v1::OUTCOME_SNI_FILTERED,
                  absl::StrCat(how, " right after the ClientHello naming ", service.host(),
                               ", while one naming ", kSniControlName,
                               " was answered: TLS is filtered by server name (SNI)"));
  }
  return finish(plain, absl::StrCat(how, " right after the ClientHello (and after one naming ",
                                    kSniControlName, ": ", tls.control().detail(), ")"));
}

}  // namespace relayscope::agent
