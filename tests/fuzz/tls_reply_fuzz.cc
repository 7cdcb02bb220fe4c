// What a download server (or whatever answers in its place) sends back to
// the download check's ClientHello: any bytes, then end of stream. The
// check must end in one outcome of its set, with every string it keeps
// bounded, whatever arrives: a TLS record cut short, a forged alert, an
// HTTP page, garbage after a valid record header.
#include <algorithm>
#include <memory>

#include "agent/attempt/tls_check.h"
#include "common/clock.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace v1 = relayscope::v1;
using relayscope::agent::Destination;
using relayscope::agent::OpenResult;
using relayscope::agent::ProxyUrl;

// Answers with the fuzz input in chunks the input's first byte sizes, and
// takes whatever the client sends.
class ScriptedTunnel final : public relayscope::agent::Tunnel {
 public:
  ScriptedTunnel(std::string reply, size_t chunk) : reply_(std::move(reply)), chunk_(chunk) {}
  absl::StatusOr<size_t> Send(absl::Span<const uint8_t> data, absl::Time) override {
    return data.size();
  }
  absl::StatusOr<size_t> Recv(absl::Span<uint8_t> buffer, absl::Time) override {
    const size_t n = std::min({buffer.size(), chunk_, reply_.size() - at_});
    std::copy_n(reply_.data() + at_, n, buffer.data());
    at_ += n;
    return n;
  }

 private:
  std::string reply_;
  size_t chunk_;
  size_t at_ = 0;
};

class ScriptedTransport final : public relayscope::agent::Transport {
 public:
  ScriptedTransport(std::string reply, size_t chunk) : reply_(std::move(reply)), chunk_(chunk) {}
  OpenResult Open(const Destination&, const ProxyUrl&, absl::Time) override {
    OpenResult result;
    result.outcome = v1::OUTCOME_OK;
    result.tunnel = std::make_unique<ScriptedTunnel>(reply_, chunk_);
    return result;
  }
  relayscope::Clock& clock() override { return relayscope::Clock::Real(); }

 private:
  std::string reply_;
  size_t chunk_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  ScriptedTransport transport(std::string(reinterpret_cast<const char*>(data + 1), size - 1),
                              chunk);
  v1::DownloadService service;
  service.set_id("plugin");
  service.set_host("downloads.fuzz.example");
  service.add_ports(443);
  const v1::Attempt a =
      relayscope::agent::RunTlsCheck(service, Destination{"192.0.2.1", 443}, ProxyUrl::Direct(),
                                     relayscope::Clock::Real().Now() + absl::Seconds(1), transport);
  switch (a.outcome()) {
    case v1::OUTCOME_OK:  // no input can carry the genuine chain: no pin, no trust
      FUZZ_CHECK(false);
      break;
    case v1::OUTCOME_TLS_INTERCEPTED:
    case v1::OUTCOME_TLS_REFUSED:
    case v1::OUTCOME_TLS_FAILURE:
    case v1::OUTCOME_PROTOCOL_INTERFERENCE:
    case v1::OUTCOME_CONNECTION_RESET:
    case v1::OUTCOME_HANDSHAKE_TIMEOUT:
    case v1::OUTCOME_SNI_FILTERED:
      break;
    default:
      FUZZ_CHECK(false);
  }
  FUZZ_CHECK(a.target() == v1::TARGET_DOWNLOAD);
  FUZZ_CHECK(a.failed_phase() == v1::PHASE_SERVER_TLS);
  FUZZ_CHECK(a.detail().size() <= 512);
  FUZZ_CHECK(a.tls().alert().size() <= 128);
  FUZZ_CHECK(a.tls().version().size() <= 64 && a.tls().cipher().size() <= 64);
  FUZZ_CHECK(a.tls().certificate().subject().size() <= 256);
  FUZZ_CHECK(a.tls().certificate().issuer().size() <= 256);
  FUZZ_CHECK(a.interference().status_line().size() <= 256);
  FUZZ_CHECK(a.bytes_received() <= size - 1);
  return 0;
}
