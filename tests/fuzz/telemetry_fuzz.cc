// Telemetry as an agent uploads it: an UploadRequest in protobuf wire
// format (what gRPC hands the ingest service), through the collector's
// Validator: the envelope, then every attempt. Invariants: what passes is
// bounded, printable, and folded onto the catalogue's label sets.
#include <google/protobuf/text_format.h>

#include <cstdint>
#include <string>

#include "collector/ingest/validator.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace v1 = relayscope::v1;
using relayscope::collector::Validator;

// The shape of deploy/catalogue/aos.textproto, inline so the target needs
// no file.
constexpr char kCatalogue[] = R"pb(
  name: "aos"
  regions {
    id: "americas"
    relays {
      id: "americas-1"
      host: "aos.us.ihost.com"
      ports: [ 8200, 80 ]
    }
  }
  regions {
    id: "emea"
    relays {
      id: "emea-1"
      addresses: "81.144.208.229"
      ports: [ 8200, 443, 80 ]
    }
  }
)pb";

// Fixed, so a reproducer reproduces: 2026-11-25T00:00:00Z.
const absl::Time kNow = absl::FromUnixSeconds(1764028800);

const Validator& TheValidator() {
  static const Validator* validator = [] {
    v1::Catalogue catalogue;
    FUZZ_CHECK(google::protobuf::TextFormat::ParseFromString(kCatalogue, &catalogue));
    return new Validator(catalogue);
  }();
  return *validator;
}

bool Printable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::UploadRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  const Validator& validator = TheValidator();
  const absl::Status envelope = validator.ValidateEnvelope(request);
  if (!envelope.ok()) {
    FUZZ_CHECK(envelope.code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!envelope.message().empty());
    return 0;
  }
  const v1::SessionReport& session = request.session();
  FUZZ_CHECK(!session.session_id().empty() && session.session_id().size() <= 64);
  FUZZ_CHECK(session.attempts_size() <= 1000);
  for (const v1::Attempt& original : session.attempts()) {
    v1::Attempt attempt = original;
    const auto rejected = validator.ValidateAttempt(session.session_id(), kNow, &attempt);
    if (rejected) {
      FUZZ_CHECK(!rejected->field().empty());
      FUZZ_CHECK(!rejected->reason().empty());
      FUZZ_CHECK(rejected->sequence() == original.sequence());
      continue;
    }
    FUZZ_CHECK(attempt.session_id() == session.session_id());
    FUZZ_CHECK(attempt.sequence() >= 1);
    FUZZ_CHECK(attempt.port() <= 65535);
    // Label values come from the catalogue, or are "other".
    FUZZ_CHECK(attempt.relay() == "americas-1" || attempt.relay() == "emea-1" ||
               attempt.relay() == relayscope::collector::kOther);
    FUZZ_CHECK(attempt.region() == "americas" || attempt.region() == "emea" ||
               attempt.region() == relayscope::collector::kOther);
    if (attempt.relay() == "americas-1") {
      FUZZ_CHECK(attempt.region() == "americas");
      FUZZ_CHECK(attempt.port() == 0 || attempt.port() == 8200 || attempt.port() == 80);
    }
    if (attempt.relay() == relayscope::collector::kOther) FUZZ_CHECK(attempt.port() == 0);
    FUZZ_CHECK(v1::RouteKind_IsValid(attempt.route_kind()));
    FUZZ_CHECK(v1::Outcome_IsValid(attempt.outcome()));
    FUZZ_CHECK(attempt.phases_size() <= 8);
    FUZZ_CHECK(attempt.detail().size() <= 512 && Printable(attempt.detail()));
    FUZZ_CHECK(attempt.address().size() <= 255 && Printable(attempt.address()));
    FUZZ_CHECK(attempt.interference().excerpt().size() <= 256);
    FUZZ_CHECK(Printable(attempt.interference().page_title()));
    // What reaches the store serializes (no field broken by the fold).
    FUZZ_CHECK(attempt.IsInitialized());
    FUZZ_CHECK(!attempt.SerializeAsString().empty());
  }
  return 0;
}
