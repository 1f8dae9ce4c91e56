// kiln and kiln-torch, one command line in two binaries (docs/ARCHITECTURE.md, "Two
// binaries"). Parses the command line, runs the command, and is the only place that turns an
// error into an exit code; the last line on stderr says why it failed.
#include <cstdio>
#include <exception>
#include <iostream>

#include "core/errors.h"
#include "core/log.h"
#include "core/utf8.h"
#include "trainer/cli/commands.h"

namespace {

int fail(kiln::ExitCode code, const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "kiln: %s (exit %d): %s\n", std::string(kiln::exit_code_name(code)).c_str(),
               static_cast<int>(code), message.c_str());
  return static_cast<int>(code);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kiln: GPU-accelerated training and evaluation for tabular ML.\n"
      "HDF5 shards in, fused feature transforms, LibTorch training, sweeps, versioned\n"
      "checkpoints, and evaluation reports with pass/fail gates.\n\n"
      "Config: kiln CMD [--config FILE]... [key.path=value | +key.path=value | ~key.path]...\n"
      "Exit codes: 0 ok, 1 internal, 3 gate failed, 4 diverged, 64 bad command line,\n"
      "65 bad data, 66 input missing, 74 output error, 75 preempted (resumable), 78 bad config.",
      "kiln"};
  app.set_help_all_flag("--help-all", "print help for every command");
  kiln::cli::register_commands(app);
  kiln::cli::set_command_line(argc, argv);
  try {
    kiln::core::init_logging({});
    // Arguments (paths, overrides) reach run.json and the reports, which are JSON.
    for (int i = 1; i < argc; ++i) {
      const std::string fault = kiln::core::utf8_fault(argv[i]);
      KILN_CHECK(fault.empty(), kiln::UsageError, "argument ", i, " is ", fault);
    }
    app.parse(argc, argv);
    if (argc == 1) {
      std::cout << app.help();
      return fail(kiln::ExitCode::kUsage, "no command given; pick one of the commands above");
    }
    return 0;
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help and friends
  } catch (const CLI::ParseError& e) {
    return fail(kiln::ExitCode::kUsage, std::string(e.what()) + "; see 'kiln --help'");
  } catch (const kiln::Error& e) {
    return fail(e.code(), e.what());
  } catch (const std::exception& e) {
    return fail(kiln::ExitCode::kInternal, e.what());
  }
}
