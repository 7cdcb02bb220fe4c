// The Ingestor called directly, without a server: a real SQLite store in
// memory (behind a wrapper that can fail commits), a fixed clock.
#include "collector/ingest/ingestor.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::collector {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1764000000);

// The real store, except that commits fail with `commit_error` when set
// (a disk error is not something a unit test can cause in SQLite).
class FailableStore final : public Store {
 public:
  explicit FailableStore(std::unique_ptr<Store> real) : real_(std::move(real)) {}
  std::optional<absl::Status> commit_error;

  void CommitAsync(IngestBatch batch, CommitCallback done) override {
    if (commit_error) {
      done(*commit_error);
      return;
    }
    real_->CommitAsync(std::move(batch), std::move(done));
  }
  absl::StatusOr<std::vector<RollupRow>> Rollups(absl::Time start, absl::Time end) override {
    return real_->Rollups(start, end);
  }
  absl::StatusOr<std::vector<FailureGroup>> FailureGroups(const AttemptFilter& filter) override {
    return real_->FailureGroups(filter);
  }
  absl::StatusOr<std::vector<SiteRow>> Sites(const AttemptFilter& filter) override {
    return real_->Sites(filter);
  }
  absl::StatusOr<std::vector<ActivityRow>> Activity(absl::Time start, absl::Time end,
                                                    absl::Duration step) override {
    return real_->Activity(start, end, step);
  }
  absl::StatusOr<std::vector<SessionRow>> Sessions(absl::Time start, absl::Time end,
                                                   const std::string& site, size_t offset,
                                                   size_t limit) override {
    return real_->Sessions(start, end, site, offset, limit);
  }
  absl::StatusOr<v1::SessionReport> Session(const std::string& agent_id,
                                            const std::string& session_id) override {
    return real_->Session(agent_id, session_id);
  }
  absl::StatusOr<uint64_t> PruneAttemptsBefore(absl::Time cutoff) override {
    return real_->PruneAttemptsBefore(cutoff);
  }
  absl::StatusOr<uint64_t> CountAttempts() override { return real_->CountAttempts(); }
  size_t QueueDepth() override { return real_->QueueDepth(); }

 private:
  std::unique_ptr<Store> real_;
};

class IngestorTest : public ::testing::Test {
 protected:
  IngestorTest() {
    google::protobuf::TextFormat::ParseFromString(
        R"pb(regions {
               id: "emea"
               relays {
                 id: "emea-1"
                 addresses: "127.0.0.2"
                 ports: [ 8200 ]
               }
             }
             downloads {
               id: "plugin"
               region: "emea"
               host: "dl.example"
               ports: [ 443 ]
             })pb",
        &catalogue_);
  }
  void SetUp() override {
    auto real = OpenStore("sqlite::memory:");
    ASSERT_TRUE(real.ok()) << real.status();
    store_ = std::make_unique<FailableStore>(*std::move(real));
    validator_ = std::make_unique<Validator>(catalogue_);
    metrics_ = std::make_unique<IngestMetrics>(registry_);
    limiter_ = std::make_unique<RateLimiter>(rate_);
    ingestor_ = std::make_unique<Ingestor>(store_.get(), validator_.get(), metrics_.get(),
                                           limiter_.get(), nullptr, [this] { return now_; });
  }

  // A batch of `sequences` direct attempts to emea-1:8200, started 5 s
  // before the fake clock's now.
  v1::UploadRequest Request(uint64_t batch_id, std::vector<uint64_t> sequences) const {
    std::vector<v1::Attempt> attempts;
    for (uint64_t seq : sequences) {
      attempts.push_back(
          test::AttemptBuilder().Sequence(seq).StartedAt(now_ - absl::Seconds(5)).Build());
    }
    return test::UploadBatch(batch_id, "agent-1", "s-1", std::move(attempts));
  }

  // The sum of `name`'s series with label `label`=`value` (every series
  // when `label` is empty).
  double Counter(const std::string& name, const std::string& label = "",
                 const std::string& value = "") {
    double total = 0;
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        bool match = label.empty();
        for (const auto& l : m.label) match = match || (l.name == label && l.value == value);
        if (match) total += m.counter.value;
      }
    }
    return total;
  }

  double rate_ = 1000;
  absl::Time now_ = kNow;
  v1::Catalogue catalogue_;
  prometheus::Registry registry_;
  std::unique_ptr<FailableStore> store_;
  std::unique_ptr<Validator> validator_;
  std::unique_ptr<IngestMetrics> metrics_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<Ingestor> ingestor_;
  const Caller caller_{"fleet"};
};

TEST_F(IngestorTest, ValidBatchIsAckedStoredAndCounted) {
  auto ack = ingestor_->Ingest(caller_, Request(7, {1, 2, 3}));
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->batch_id(), 7u);
  EXPECT_EQ(ack->accepted(), 3u);
  EXPECT_EQ(ack->duplicates(), 0u);
  EXPECT_EQ(ack->rejected_size(), 0);
  EXPECT_EQ(*store_->CountAttempts(), 3u);
  EXPECT_EQ(Counter("relayscope_attempts_total", "outcome", "ok"), 3);
  EXPECT_EQ(Counter("relayscope_ingest_batches_total", "result", "ok"), 1);
}

TEST_F(IngestorTest, DownloadChecksAreStoredAndCountedApartFromRelays) {
  v1::UploadRequest r = Request(3, {1});
  for (uint64_t seq : {2, 3}) {
    v1::Attempt a = test::AttemptBuilder()
                        .Session("s-1")
                        .Sequence(seq)
                        .StartedAt(now_ - absl::Seconds(5))
                        .To("emea", seq == 2 ? "plugin" : "emea-1", 443)
                        .Outcome(v1::OUTCOME_TLS_INTERCEPTED)
                        .Build();
    a.set_target(v1::TARGET_DOWNLOAD);
    *r.mutable_session()->add_attempts() = a;
  }
  auto ack = ingestor_->Ingest(caller_, r);
  ASSERT_TRUE(ack.ok()) << ack.status();
  // The relay attempt and the plugin check are stored; a download check
  // under a relay's id is rejected, naming the field.
  EXPECT_EQ(ack->accepted(), 2u);
  ASSERT_EQ(ack->rejected_size(), 1);
  EXPECT_EQ(ack->rejected(0).sequence(), 3u);
  EXPECT_EQ(ack->rejected(0).field(), "relay");
  EXPECT_EQ(*store_->CountAttempts(), 2u);
  EXPECT_EQ(Counter("relayscope_attempts_total"), 1);
  EXPECT_EQ(Counter("relayscope_attempts_total", "outcome", "tls_intercepted"), 0);
  EXPECT_EQ(Counter("relayscope_download_attempts_total", "service", "plugin"), 1);
  EXPECT_EQ(Counter("relayscope_ingest_rejected_attempts_total", "field", "relay"), 1);
}

TEST_F(IngestorTest, InvalidEnvelopeIsRefusedWithTheValidatorsMessage) {
  v1::UploadRequest r = Request(1, {1});
  r.mutable_session()->set_session_id("");
  const absl::Status expected = validator_->ValidateEnvelope(r);
  ASSERT_FALSE(expected.ok());
  auto ack = ingestor_->Ingest(caller_, r);
  EXPECT_EQ(ack.status(), expected);
  EXPECT_THAT(ack.status().message(), HasSubstr("session.session_id"));
  EXPECT_EQ(*store_->CountAttempts(), 0u);
  EXPECT_EQ(Counter("relayscope_ingest_batches_total", "result", "invalid"), 1);
}

TEST_F(IngestorTest, ResentBatchIsCountedOnce) {
  ASSERT_TRUE(ingestor_->Ingest(caller_, Request(1, {1, 2})).ok());
  auto again = ingestor_->Ingest(caller_, Request(2, {1, 2, 3}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->accepted(), 1u);
  EXPECT_EQ(again->duplicates(), 2u);
  EXPECT_EQ(*store_->CountAttempts(), 3u);
  EXPECT_EQ(Counter("relayscope_attempts_total"), 3);
  EXPECT_EQ(Counter("relayscope_ingest_duplicate_attempts_total"), 2);
}

TEST_F(IngestorTest, BadAttemptIsRejectedByFieldAndTheRestIsStored) {
  v1::UploadRequest r = Request(1, {1, 2});
  r.mutable_session()->mutable_attempts(1)->set_port(70000);
  auto ack = ingestor_->Ingest(caller_, r);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->accepted(), 1u);
  ASSERT_EQ(ack->rejected_size(), 1);
  EXPECT_EQ(ack->rejected(0).sequence(), 2u);
  EXPECT_EQ(ack->rejected(0).field(), "port");
  EXPECT_EQ(Counter("relayscope_ingest_rejected_attempts_total", "field", "port"), 1);
}

class RateLimitedIngestorTest : public IngestorTest {
 protected:
  void SetUp() override {
    rate_ = 2;
    IngestorTest::SetUp();
  }
};

TEST_F(RateLimitedIngestorTest, OverRateIsResourceExhaustedUntilTheBucketRefills) {
  ASSERT_TRUE(ingestor_->Ingest(caller_, Request(1, {1})).ok());
  ASSERT_TRUE(ingestor_->Ingest(caller_, Request(2, {2})).ok());
  auto refused = ingestor_->Ingest(caller_, Request(3, {3}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("from this agent"));
  EXPECT_EQ(*store_->CountAttempts(), 2u);
  EXPECT_EQ(Counter("relayscope_ingest_batches_total", "result", "rate_limited"), 1);
  now_ += absl::Milliseconds(500);  // one batch back at 2/s
  EXPECT_TRUE(ingestor_->Ingest(caller_, Request(3, {3})).ok());
}

TEST_F(IngestorTest, HolderOverItsRateIsResourceExhaustedWhateverTheAgentId) {
  RateLimiter holder_limiter(2);
  Ingestor ingestor(store_.get(), validator_.get(), metrics_.get(), limiter_.get(), &holder_limiter,
                    [this] { return now_; });
  for (uint64_t i = 1; i <= 3; ++i) {
    v1::UploadRequest r = Request(i, {i});
    r.mutable_session()->mutable_agent()->set_agent_id(absl::StrCat("made-up-", i));
    auto ack = ingestor.Ingest(caller_, r);
    if (i <= 2) {
      EXPECT_TRUE(ack.ok()) << ack.status();
    } else {
      EXPECT_EQ(ack.status().code(), absl::StatusCode::kResourceExhausted);
      EXPECT_THAT(ack.status().message(), HasSubstr("under this token"));
    }
  }
  // Another holder has its own budget.
  EXPECT_TRUE(ingestor.Ingest(Caller{"other"}, Request(9, {9})).ok());
}

TEST_F(IngestorTest, StoreFailureIsUnavailableAndCountsNothing) {
  store_->commit_error = absl::UnavailableError("disk I/O error");
  auto ack = ingestor_->Ingest(caller_, Request(1, {1, 2}));
  EXPECT_EQ(ack.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Counter("relayscope_attempts_total"), 0);
  EXPECT_EQ(Counter("relayscope_ingest_batches_total", "result", "store_error"), 1);
  EXPECT_EQ(Counter("relayscope_ingest_batches_total", "result", "ok"), 0);
  // The store recovers; the agent's resend is stored and counted once.
  store_->commit_error.reset();
  auto resent = ingestor_->Ingest(caller_, Request(1, {1, 2}));
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(resent->accepted(), 2u);
  EXPECT_EQ(Counter("relayscope_attempts_total"), 2);
}

TEST_F(IngestorTest, FullStoreIsResourceExhaustedAndCountedAsStoreFull) {
  store_->commit_error = absl::ResourceExhaustedError("disk full");
  auto ack = ingestor_->Ingest(caller_, Request(1, {1}));
  EXPECT_EQ(ack.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Counter("relayscope_ingest_batches_total", "result", "store_full"), 1);
}

}  // namespace
}  // namespace relayscope::collector
