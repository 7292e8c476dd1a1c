// Pieces check, prune and repair share: listing packs, reading every index
// entry, reading a pack's own header.
#pragma once

#include <map>
#include <vector>

#include "cairn/repository.h"

namespace cairn::maintenance_internal {

// Every pack in storage with its size.
Result<std::map<Id, uint64_t>> ListPacks(Storage& storage);

// The per-pack blob lists of every index file LoadIndex could read (including
// blobs the in-memory index does not point at: duplicates, and blobs of packs
// that verify_packs found missing).
Result<std::vector<PackContents>> ReadIndexEntries(Repository& repo);

// Reads and authenticates the header at the end of a pack of `size` bytes
// (one range read of its tail, a second one only for a large header).
// Corruption names the pack and the reason.
Result<std::vector<PackedBlob>> ReadPackHeader(Repository& repo, const Id& pack, uint64_t size);

}  // namespace cairn::maintenance_internal
