// The model registry: references, versions, aliases, the journal, verification, and what
// concurrent writers and killed registers leave behind (real processes, real SIGKILL).
#include "registry/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/files.h"
#include "tests/temp_dir.h"

namespace kiln::registry {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// What a call throws: its exit code and message (kInternal and "" when it throws nothing).
struct Caught {
  ExitCode code = ExitCode::kInternal;
  std::string message;
};
Caught caught(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  ADD_FAILURE() << "no exception";
  return {};
}

// A checkpoint of a run as `kiln fit` writes it, with a weights file of `bytes` bytes.
std::string make_run(const std::string& run, int64_t step, std::size_t bytes = 4096) {
  core::CheckpointContents c;
  c.step = step;
  std::string weights(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i)
    weights[i] = static_cast<char>((i * 131 + static_cast<std::size_t>(step)) & 0xff);
  c.files["weights.bin"] = weights;
  c.files["config.yaml"] = "model:\n  type: mlp\n  hidden: [64]\n";
  c.files["transform.json"] = "{}";
  c.metrics = {{"auroc", 0.8 + 0.001 * static_cast<double>(step)}};
  c.data_fingerprint = "abc123";
  fs::create_directories(fs::path(run) / "checkpoints");
  core::atomic_write((fs::path(run) / "run.json").string(),
                     R"({"train": {"path": "data/train", "rows": 100, "fingerprint": "abc123"},
                         "valid": {"path": "data/valid", "rows": 20, "fingerprint": "def456"}})");
  return core::write_checkpoint((fs::path(run) / "checkpoints").string(), c, true);
}

// Runs `body` in `n` forked processes (child i gets i) and waits; returns their exit codes.
std::vector<int> in_processes(int n, const std::function<int(int)>& body) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      int code = 1;
      try {
        code = body(i);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", i, e.what());
      }
      ::_exit(code);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

TEST(RegistryRef, ParsesAliasAndVersionReferences) {
  Ref a = parse_ref("registry:fraud@champion");
  EXPECT_EQ(a.name, "fraud");
  EXPECT_EQ(a.alias, "champion");
  EXPECT_EQ(a.version, 0);
  Ref v = parse_ref("fraud/v7");
  EXPECT_EQ(v.version, 7);
  EXPECT_EQ(v.text(), "fraud/v7");
  EXPECT_TRUE(is_ref("registry:x@y"));
  EXPECT_FALSE(is_ref("runs/x"));
}

TEST(RegistryRef, RefusesNamesThatAreNotNames) {
  for (const char* bad : {"registry:../x@champion", "registry:a/b/v1", "registry:fraud",
                          "registry:fraud@v3", "registry:fraud/v0", "registry:fraud/x",
                          "registry:.hidden@a", "registry:fraud@a/b", "registry:@a"})
    EXPECT_EQ(caught([&] { parse_ref(bad); }).code, ExitCode::kUsage) << bad;
  EXPECT_THAT(caught([] { check_name("a/..", "model name"); }).message,
              ::testing::HasSubstr("model name 'a/..' is not a name"));
}

TEST(Registry, RegistersImmutableVersionsWithCardsAndAliases) {
  TempDir dir;
  make_run(dir / "run1", 10);
  Registry reg(dir / "reg");
  RegisterOptions o;
  o.source = dir / "run1";
  o.name = "fraud";
  o.aliases = {"candidate"};
  o.tags = {{"team", "risk"}};
  const Registered r1 = reg.register_version(o);
  EXPECT_EQ(r1.version, 1);
  EXPECT_TRUE(r1.linked);
  EXPECT_EQ(r1.card["version"], 1);
  EXPECT_EQ(r1.card["source"]["step"], 10);
  EXPECT_EQ(r1.card["data"]["valid"]["fingerprint"], "def456");
  EXPECT_EQ(r1.card["config"]["model"]["hidden"][0], 64);
  EXPECT_EQ(r1.card["metrics"]["auroc"], 0.81);
  EXPECT_EQ(r1.card["tags"]["team"], "risk");
  EXPECT_FALSE(r1.card["transform_sha256"].is_null());
  // Read-only once visible: no file can be written, none added.
  struct stat st {};
  ASSERT_EQ(::stat((fs::path(r1.path) / "weights.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);
  ASSERT_EQ(::stat(r1.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);

  o.copy = true;
  o.aliases = {};
  const Registered r2 = reg.register_version(o);
  EXPECT_EQ(r2.version, 2);
  EXPECT_FALSE(r2.linked);
  EXPECT_EQ(reg.resolve(parse_ref("fraud@candidate")).version, 1);
  const Resolved v2 = reg.resolve(parse_ref("registry:fraud/v2"));
  EXPECT_EQ(v2.path, r2.path);
  EXPECT_EQ(core::verify_checkpoint(v2.path).step, 10);
  EXPECT_TRUE(reg.verify("fraud").empty());
  EXPECT_EQ(reg.models(), std::vector<std::string>{"fraud"});
  EXPECT_EQ(reg.card("fraud", 2)["source"]["files"], "copies");
}

TEST(Registry, AliasMovesCompareAndSetAndRollBackInOrder) {
  TempDir dir;
  make_run(dir / "run", 1);
  Registry reg(dir / "reg");
  for (int i = 0; i < 3; ++i)
    reg.register_version({dir / "run", "m"});
  reg.move_alias({"m", "champion", 1});
  reg.move_alias({"m", "champion", 2, 1});
  const auto conflict = caught([&] { reg.move_alias({"m", "champion", 3, 1}); });
  EXPECT_EQ(conflict.code, ExitCode::kConflict);
  EXPECT_THAT(conflict.message, ::testing::HasSubstr("m@champion holds v2, not v1"));
  EXPECT_EQ(reg.resolve(parse_ref("m@champion")).version, 2);
  reg.move_alias({"m", "champion", 3, 2});
  EXPECT_EQ(reg.rollback("m", "champion", std::nullopt).version, 2);
  EXPECT_EQ(reg.rollback("m", "champion", 2).version, 1);
  EXPECT_EQ(caught([&] { reg.rollback("m", "champion", std::nullopt); }).code,
            ExitCode::kUsage);  // nothing before v1
  const ModelState s = reg.state("m");
  ASSERT_EQ(s.moves.size(), 5u);
  EXPECT_EQ(s.moves[3].how, "rollback");
  EXPECT_EQ(s.moves[3].from, 3);
  EXPECT_EQ(*s.alias("champion"), 1);
  EXPECT_EQ(reg.resolve(parse_ref("m@champion")).version, 1);
  // An alias holds a version that cannot be archived; an archived one cannot be aliased.
  EXPECT_EQ(caught([&] { reg.archive("m", 1); }).code, ExitCode::kUsage);
  reg.archive("m", 3);
  EXPECT_TRUE(reg.state("m").find(3)->archived);
  EXPECT_EQ(caught([&] { reg.move_alias({"m", "champion", 3}); }).code, ExitCode::kUsage);
  reg.tag("m", 2, {{"stage", "shadow"}}, {});
  reg.tag("m", 2, {}, {"stage"});
  EXPECT_TRUE(reg.state("m").find(2)->tags.empty());
  reg.remove_alias("m", "champion", 1);
  EXPECT_EQ(caught([&] { reg.resolve(parse_ref("m@champion")); }).code, ExitCode::kNoInput);
}

TEST(Registry, MissingModelsAliasesAndVersionsAreNamed) {
  TempDir dir;
  make_run(dir / "run", 1);
  Registry reg(dir / "reg");
  auto missing = caught([&] { reg.resolve(parse_ref("nope@champion")); });
  EXPECT_EQ(missing.code, ExitCode::kNoInput);
  EXPECT_THAT(missing.message, ::testing::HasSubstr("no model 'nope'"));
  reg.register_version({dir / "run", "m"});
  missing = caught([&] { reg.resolve(parse_ref("m@champion")); });
  EXPECT_EQ(missing.code, ExitCode::kNoInput);
  EXPECT_THAT(missing.message, ::testing::HasSubstr("no alias 'champion' on model 'm'"));
  EXPECT_EQ(caught([&] { reg.resolve(parse_ref("m/v9")); }).code, ExitCode::kNoInput);
  EXPECT_EQ(caught([&] { reg.register_version({dir / "none", "m"}); }).code, ExitCode::kNoInput);
}

TEST(Registry, VerifyAndReadersNameACorruptedFile) {
  TempDir dir;
  make_run(dir / "run", 1);
  Registry reg(dir / "reg");
  RegisterOptions o{dir / "run", "m"};
  o.copy = true;
  const Registered r = reg.register_version(o);
  const std::string weights = (fs::path(r.path) / "weights.bin").string();
  ::chmod(weights.c_str(), 0644);
  {
    std::fstream f(weights, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('X');
  }
  const auto problems = reg.verify("m");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], ::testing::HasSubstr(weights));
  const auto read = caught([&] { core::verify_checkpoint(reg.resolve(parse_ref("m/v1")).path); });
  EXPECT_EQ(read.code, ExitCode::kBadData);
  EXPECT_THAT(read.message, ::testing::HasSubstr("weights.bin"));
  // A card changed after registration no longer matches its register event.
  const std::string card = (fs::path(r.path) / "version.json").string();
  ::chmod(card.c_str(), 0644);
  std::string text = core::read_file(card);
  text.insert(text.size() - 2, " ");
  core::atomic_write(card, text);
  EXPECT_EQ(caught([&] { reg.card("m", 1); }).code, ExitCode::kBadData);
}

TEST(Registry, AMalformedJournalLineIsNamedAndATornLastLineIsCut) {
  TempDir dir;
  make_run(dir / "run", 1);
  Registry reg(dir / "reg");
  reg.register_version({dir / "run", "m"});
  const std::string journal = dir / "reg/m/journal.jsonl";
  const std::string good = core::read_file(journal);
  core::atomic_write(journal, good + "{\"event\": \"register\", \"ver");  // torn: ignored
  EXPECT_EQ(reg.state("m").last_version, 1);
  reg.register_version({dir / "run", "m"});  // a writer cuts it off
  EXPECT_EQ(reg.state("m").last_version, 2);
  core::atomic_write(journal, good + "not json\n");
  auto bad = caught([&] { reg.state("m"); });
  EXPECT_EQ(bad.code, ExitCode::kBadData);
  EXPECT_THAT(bad.message, ::testing::HasSubstr(journal + " line 2: not a JSON object"));
  core::atomic_write(
      journal, good + R"({"event":"alias","alias":"a","how":"set","version":7,"t":1})" + "\n");
  bad = caught([&] { reg.state("m"); });
  EXPECT_EQ(bad.code, ExitCode::kBadData);
  EXPECT_THAT(bad.message, ::testing::HasSubstr("line 2: names unknown version v7"));
  EXPECT_EQ(caught([&] {
              reg.register_version({dir / "run", "m"});
            }).code,
            ExitCode::kBadData);  // writers refuse it too
}

TEST(RegistryConcurrency, EightProcessesRegisteringTakeEveryNumberOnce) {
  TempDir dir;
  make_run(dir / "run", 1);
  Registry reg(dir / "reg");
  const auto codes = in_processes(8, [&](int) {
    Registry mine(dir / "reg");
    for (int i = 0; i < 25; ++i)
      mine.register_version({dir / "run", "m"});
    return 0;
  });
  for (int c : codes)
    EXPECT_EQ(c, 0);
  const ModelState s = reg.state("m");
  EXPECT_EQ(s.last_version, 200);
  EXPECT_EQ(s.versions.size(), 200u);  // each number once, no gap (apply checks the order)
  EXPECT_TRUE(reg.verify("m").empty());
  EXPECT_FALSE(fs::exists(dir / "reg/m/versions/v201"));
}

TEST(RegistryConcurrency, ReadersNeverSeeAMissingOrHalfWrittenAlias) {
  TempDir dir;
  make_run(dir / "run", 1);
  Registry reg(dir / "reg");
  for (int i = 0; i < 4; ++i)
    reg.register_version({dir / "run", "m"});
  reg.move_alias({"m", "champion", 1});
  const auto codes = in_processes(6, [&](int i) {
    Registry mine(dir / "reg");
    if (i < 4) {  // movers
      for (int k = 0; k < 40; ++k)
        mine.move_alias({"m", "champion", 1 + (i + k) % 4});
      return 0;
    }
    for (int k = 0; k < 2000; ++k) {  // readers
      const Resolved r = mine.resolve(parse_ref("m@champion"));
      if (r.version < 1 || r.version > 4) return 2;
    }
    return 0;
  });
  for (int c : codes)
    EXPECT_EQ(c, 0);
  const ModelState s = reg.state("m");
  EXPECT_EQ(s.moves.size(), 161u);
  int64_t replayed = 0;  // the history, replayed, ends where the alias is
  for (const AliasMove& m : s.moves) {
    if (replayed != 0) {
      EXPECT_EQ(m.from, replayed);
    }
    replayed = m.version;
  }
  EXPECT_EQ(reg.resolve(parse_ref("m@champion")).version, replayed);
}

// Checks a registry after a kill: every visible version verifies, the numbers have no gap
// (ModelState::apply checks the order), and the alias resolves to what the journal says.
void expect_whole(Registry& reg, const std::string& what) {
  const ModelState s = reg.state("m");
  EXPECT_EQ(s.versions.size(), static_cast<std::size_t>(s.last_version)) << what;
  EXPECT_TRUE(reg.verify("m").empty()) << what;
  if (s.alias("candidate")) {
    EXPECT_EQ(reg.resolve(parse_ref("m@candidate")).version, *s.alias("candidate")) << what;
  }
}

// Registers in a child process that is killed: at `point` (KILN_TEST_KILL_AT), or after
// `delay` seconds.
void killed_register(const RegisterOptions& o, const std::string& reg, const char* point,
                     double delay) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (point != nullptr) ::setenv("KILN_TEST_KILL_AT", point, 1);
    try {
      Registry(reg).register_version(o);
    } catch (...) {
    }
    ::_exit(point == nullptr ? 0 : 3);  // a point that was never reached fails below
  }
  if (point == nullptr) {
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (point != nullptr) {
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << point;
  }
}

TEST(RegistryCrash, AKillAtEachStepOfRegisterLeavesNothingVisibleHalfMade) {
  TempDir dir;
  make_run(dir / "run", 1);
  Registry reg(dir / "reg");
  RegisterOptions o{dir / "run", "m"};
  o.aliases = {"candidate"};
  reg.register_version(o);
  // staged: files in .staging; card: its card written; renamed: in versions/ but not in the
  // journal (the next writer records it); appended: in the journal, the alias file not yet
  // rewritten (the next writer repairs it).
  const std::vector<std::pair<const char*, int64_t>> points = {
      {"staged", 1}, {"card", 1}, {"renamed", 2}, {"appended", 3}};
  for (const auto& [point, visible_after_next] : points) {
    const int64_t before = reg.state("m").last_version;
    killed_register(o, dir / "reg", point, 0);
    const Registered next = reg.register_version(o);
    EXPECT_EQ(next.version, before + (visible_after_next == 1 ? 1 : 2)) << point;
    expect_whole(reg, point);
    EXPECT_EQ(reg.resolve(parse_ref("m@candidate")).version, next.version) << point;
  }
}

// A version killed between its rename and its journal line is found by its tags once
// recorded: recover() records it as the next register would, with its card's tags, and
// leaves its alias move unmade (the pipeline's register step relies on both).
TEST(RegistryCrash, RecoverRecordsAVersionKilledBeforeItsJournalLineWithItsTags) {
  TempDir dir;
  make_run(dir / "run", 1);
  Registry reg(dir / "reg");
  RegisterOptions o{dir / "run", "m"};
  reg.register_version(o);
  o.aliases = {"candidate"};
  o.tags = {{"pipeline_key", "abc"}};
  killed_register(o, dir / "reg", "renamed", 0);
  EXPECT_EQ(reg.state("m").last_version, 1);
  const ModelState& s = reg.recover("m");
  ASSERT_EQ(s.last_version, 2);
  EXPECT_EQ(s.versions.at(2).tags, o.tags);
  EXPECT_FALSE(s.alias("candidate"));
  EXPECT_EQ(reg.recover("m").last_version, 2);  // nothing more to record
  expect_whole(reg, "recovered");
  EXPECT_EQ(reg.register_version(o).version, 3);
  EXPECT_THROW(reg.recover("absent"), InputError);
}

TEST(RegistryCrash, KillsAtRandomTimesDuringACopyLeaveAWholeRegistry) {
  TempDir dir;
  make_run(dir / "run", 1, 24 << 20);  // 24 MiB copied: a register takes a while
  Registry reg(dir / "reg");
  RegisterOptions o{dir / "run", "m"};
  o.copy = true;
  o.aliases = {"candidate"};
  const auto t0 = std::chrono::steady_clock::now();
  reg.register_version(o);
  const double full = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (int k = 0; k < 12; ++k) {  // from early in the copy to past a whole register
    killed_register(o, dir / "reg", nullptr, full * 0.05 * std::pow(1.35, k));
    // A kill between the journal line and the alias file leaves that file one move behind
    // until the next writer repairs it (docs/REGISTRY.md): write once, then check.
    reg.tag("m", 1, {{"after_kill", std::to_string(k)}}, {});
    expect_whole(reg, "kill " + std::to_string(k));
  }
  // A kill after the version was renamed into place but before its journal line leaves a
  // version that the next register records first (RecoverRecords... above): recover, then
  // the register takes the next number.
  const int64_t before = reg.recover("m").last_version;
  EXPECT_EQ(reg.register_version(o).version, before + 1);
  expect_whole(reg, "after");
  int leftovers = 0;  // the dead registers' staging directories are gone
  for (const auto& e : fs::directory_iterator(dir / "reg/m/.staging"))
    leftovers += e.path().extension() != ".lock";
  EXPECT_EQ(leftovers, 0);
}

}  // namespace
}  // namespace kiln::registry
