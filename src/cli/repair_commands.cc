// `cairn repo repair index|packs|snapshots` (README, "Repairing a damaged
// repository"): the steps `cairn repo check` names, in the order it names them.
#include <cstdio>
#include <iostream>

#include "cairn/maintenance.h"
#include "cli/common.h"
#include "util/json_text.h"

namespace cairn {

void AddRepairCommands(CLI::App* repo, Globals& g, const std::function<void(CLI::App*)>& add_common) {
  auto* repair = repo->add_subcommand("repair", "Make a damaged repository usable again (see cairn repo check)");
  repair->require_subcommand(1);

  auto* index = repair->add_subcommand("index", "Rebuild the index from the packs' own headers");
  add_common(index);
  index->callback([&] {
    auto r = OpenRepo(g);
    RepairIndexReport report = ValueOrThrow(RepairIndex(*r, StepLog(g)));
    for (const auto& u : report.unreadable_packs) std::fprintf(stderr, "warning: %s (left in place)\n", OneLine(u).c_str());
    if (g.json) {
      std::cout << Dump(json{{"packs_read", report.packs_read}, {"blobs_indexed", report.blobs_indexed},
                             {"index_files_written", report.index_files_written},
                             {"index_files_removed", report.index_files_removed},
                             {"unreadable_packs", JsonSafeText(report.unreadable_packs)}})
                << "\n";
    } else {
      std::printf("indexed %llu blobs of %llu packs in %llu new index file(s); removed %llu old index file(s)\n",
                  (unsigned long long)report.blobs_indexed, (unsigned long long)report.packs_read,
                  (unsigned long long)report.index_files_written, (unsigned long long)report.index_files_removed);
    }
  });

  auto* packs = repair->add_subcommand(
      "packs", "Read every pack; copy what still decodes out of damaged ones and drop the rest");
  add_common(packs);
  packs->callback([&] {
    auto r = OpenRepo(g);
    CheckOptions options;
    options.read_data = true;
    CheckReport check = ValueOrThrow(CheckRepository(*r, options, StepLog(g)));
    RepairPacksReport report = ValueOrThrow(RepairPacks(*r, check.damaged_packs, StepLog(g)));
    for (const auto& d : report.dropped) std::fprintf(stderr, "dropped: %s\n", OneLine(d).c_str());
    if (g.json) {
      std::cout << Dump(json{{"packs_rewritten", report.packs_rewritten}, {"blobs_salvaged", report.blobs_salvaged},
                             {"blobs_dropped", report.blobs_dropped}, {"dropped", JsonSafeText(report.dropped)}})
                << "\n";
    } else if (report.packs_rewritten == 0) {
      std::printf("no damaged packs found\n");
    } else {
      std::printf("rewrote %llu damaged pack(s): %llu blobs salvaged, %llu dropped\n"
                  "next: back up again (stores dropped data the source still has), then "
                  "`cairn repo repair snapshots` for what stays lost\n",
                  (unsigned long long)report.packs_rewritten, (unsigned long long)report.blobs_salvaged,
                  (unsigned long long)report.blobs_dropped);
    }
  });

  static RepairSnapshotsOptions sopt;
  auto* snapshots = repair->add_subcommand(
      "snapshots", "Save repaired copies of snapshots that lost data (lost files become empty NAME.damaged files)");
  add_common(snapshots);
  snapshots->add_flag("--forget", sopt.forget, "Remove each original once its repaired copy is saved");
  snapshots->add_flag("--dry-run,-n", sopt.dry_run, "Only show what would be repaired");
  snapshots->callback([&] {
    auto r = OpenRepo(g);
    RepairSnapshotsReport report = ValueOrThrow(RepairSnapshots(*r, sopt, StepLog(g)));
    for (const auto& u : report.unreadable)
      std::fprintf(stderr, "warning: %s (cannot be repaired; remove it with cairn repo forget ID)\n", OneLine(u).c_str());
    json out = json::array();
    for (const auto& rep : report.repaired) {
      out.push_back({{"original", rep.original.Hex()},
                     {"repaired", sopt.dry_run ? "" : rep.repaired.Hex()},
                     {"damaged_files", rep.damaged_files},
                     {"examples", JsonSafeText(rep.examples)}});
      if (!g.json) {
        std::printf("snapshot %s: %llu file(s) lost%s%s\n", rep.original.ShortHex().c_str(),
                    (unsigned long long)rep.damaged_files,
                    sopt.dry_run ? "" : (", repaired copy " + rep.repaired.ShortHex()).c_str(),
                    sopt.forget && !sopt.dry_run ? ", original removed" : "");
        for (const auto& e : rep.examples) std::printf("  %s\n", e.c_str());
      }
    }
    if (g.json) std::cout << Dump(json{{"repaired", out}, {"intact", report.intact}, {"dry_run", sopt.dry_run}}) << "\n";
    else std::printf("%zu snapshot(s) %s, %llu intact\n", report.repaired.size(),
                     sopt.dry_run ? "would be repaired" : "repaired", (unsigned long long)report.intact);
  });
}

}  // namespace cairn
