import DurationUnits
import Logging
import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// Rolling replacement (SIGHUP reload, WORKER_MAX_REQUESTS recycling) and
/// dead-slot cover.
extension Supervisor {
    /// SIGHUP: re-read the configuration, then replace every worker, one slot
    /// at a time. A reload during a reload runs once the current one is done.
    func requestReload() {
        guard stopDeadline == nil else { return }
        guard !isReloading else {
            reloadRequested = true
            logger.info("reload requested while reloading; it will follow this one")
            return
        }
        notifier.notify("RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())")
        do {
            options.policy = try options.reload()
        } catch {
            logger.error("reload failed, keeping the running configuration: \(error)")
            notifier.notify("READY=1", statusLine())
            return
        }
        logger.notice("reloading: replacing workers one at a time", metadata: ["workers": "\(slots.count)"])
        isReloading = true
        for slot in slots.indices where !replacements.contains(where: { $0.slot == slot }) { replacements.append((slot, .reloaded)) }
    }

    func scheduleReplacement(of slot: Int, reason: RestartReason) {
        guard stopDeadline == nil, !replacements.contains(where: { $0.slot == slot }), slots[slot].worker?.isReady == true else { return }
        replacements.append((slot, reason))
    }

    /// Starts the next slot's successor; once it is ready, the old worker
    /// retires (drains) and the next slot follows.
    func advanceReplacements() {
        guard let (slot, reason) = replacements.first else {
            if isReloading { finishReload() }
            return
        }
        guard let current = slots[slot].worker, current.isReady else {
            // Nothing to replace (the slot is restarting anyway): the restart reads the new configuration.
            replacements.removeFirst()
            return
        }
        guard let successor = slots[slot].successor else {
            slots[slot].successor = spawn(slot: slot)
            if slots[slot].successor == nil { abandonReplacements(because: "cannot start a worker for slot \(slot)") }
            return
        }
        guard successor.isReady else { return }
        count(restart: reason, slot: slot)
        slots[slot].worker = successor
        slots[slot].successor = nil
        replacements.removeFirst()
        logger.info("worker replaced", metadata: ["slot": "\(slot)", "old_pid": "\(current.pid)", "pid": "\(successor.pid)", "reason": "\(reason.rawValue)"])
        retire(current)
        reportStatus()
    }

    func abandonReplacements(because reason: String) {
        logger.error("replacement stopped, the running workers keep serving: \(reason)")
        replacements = []
        if isReloading { finishReload() }
    }

    private func finishReload() {
        isReloading = false
        logger.notice("reload finished")
        notifier.notify("READY=1", statusLine())
        if reloadRequested {
            reloadRequested = false
            requestReload()
        }
    }

    /// Has a ready worker accept on the socket of each slot that has none,
    /// and stops it once the slot's own worker is ready again. A worker that
    /// is simply booting gets ``coverGrace`` first: covering it would only
    /// have two processes accept on one socket for a moment when it is ready
    /// (harmless in release builds; NIO asserts on the lost accept race in
    /// debug builds).
    func updateCovers(now: ContinuousClock.Instant = .now) {
        for slot in slots.indices {
            let coverer = slots.indices.first { slots[$0].worker?.covering.contains(slot) == true }
            let needsCover = slots[slot].worker.map { worker in
                !worker.isReady && (coverer != nil || slots[slot].quickFailures > 0 || now - worker.startedAt > Self.coverGrace)
            } ?? true
            if needsCover, coverer == nil, let chosen = coverCandidate(for: slot) {
                slots[chosen].worker!.covering.insert(slot)
                WorkerContract.send(.cover(slot: slot), on: slots[chosen].worker!.control)
                logger.info("slot covered by another worker", metadata: ["slot": "\(slot)", "by_slot": "\(chosen)"])
            } else if !needsCover, let coverer {
                slots[coverer].worker!.covering.remove(slot)
                WorkerContract.send(.uncover(slot: slot), on: slots[coverer].worker!.control)
                logger.info("slot no longer covered", metadata: ["slot": "\(slot)"])
            }
        }
    }

    /// The ready worker covering the fewest slots.
    private func coverCandidate(for slot: Int) -> Int? {
        slots.indices
            .filter { $0 != slot && slots[$0].worker?.isReady == true }
            .min { slots[$0].worker!.covering.count < slots[$1].worker!.covering.count }
    }

    /// Every slot's socket is accepted on: by its own worker, or by a cover
    /// while it backs off from boot failures.
    var everySlotServed: Bool {
        slots.indices.allSatisfy { slot in
            slots[slot].worker?.isReady == true
                || (slots[slot].quickFailures > 0 && slots.contains { $0.worker?.covering.contains(slot) == true })
        }
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}
