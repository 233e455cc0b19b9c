// gopp: Go's concurrency model for C++20. The umbrella header: it includes the rest.
#pragma once

#include "gopp/chan.hpp"
#include "gopp/context.hpp"
#include "gopp/defer.hpp"
#include "gopp/duration.hpp"
#include "gopp/dynamic_select.hpp"
#include "gopp/fd.hpp"
#include "gopp/go.hpp"
#include "gopp/log.hpp"
#include "gopp/merge.hpp"
#include "gopp/net.hpp"
#include "gopp/pool.hpp"
#include "gopp/select.hpp"
#include "gopp/sync.hpp"
#include "gopp/time.hpp"
