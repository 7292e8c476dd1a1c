// Redis as a service (docs/sources/redis.md).
//
// One part, "rdb": the server's RDB snapshot as `redis-cli --rdb -` receives it
// over the replication protocol (the server forks; no BGSAVE, no file on the
// server's disk). Restore starts a new redis-server on the RDB, or swaps a live
// server's data by making it a replica of such a staging server for one full
// sync.
#pragma once

#include <memory>

#include "cairn/service.h"

namespace cairn {

// Settings: host (127.0.0.1), port (6379), socket, password / password_file,
// user (ACL user), run_as (OS user for the servers Cairn starts), redis_server
// (path of redis-server), data_dir / dbfilename (accepted, not needed).
Result<std::unique_ptr<Source>> MakeRedisSource(const ServiceConfig& config);

}  // namespace cairn
