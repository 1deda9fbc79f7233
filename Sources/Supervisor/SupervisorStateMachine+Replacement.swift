import Logging

/// Rolling replacement (SIGHUP reload, WORKER_MAX_REQUESTS recycling) and
/// dead-slot cover.
extension SupervisorStateMachine {
    /// SIGHUP: re-read the configuration, then replace every worker, one slot
    /// at a time. A reload during a reload runs once the current one is done.
    mutating func reload() -> [Action] {
        switch phase {
        case .stopping:
            return []
        case .reloading:
            phase = .reloading(again: true)
            return [.log(.info, "reload requested while reloading; it will follow this one", [:])]
        case .running:
            return [.notify(.reloading), .reloadConfiguration]
        }
    }

    /// The configuration was read again: replace every worker with one that runs it.
    mutating func reloaded(_ policy: Supervisor.Policy) -> [Action] {
        guard !isStopping else { return [] }
        self.policy = policy
        phase = .reloading(again: false)
        for slot in slots.indices where !replacements.contains(where: { $0.slot == slot }) { replacements.append((slot, .reloaded)) }
        return [.log(.notice, "reloading: replacing workers one at a time", ["workers": "\(slots.count)"])]
    }

    /// The configuration could not be read: the running one stays.
    func reloadFailed(_ reason: String) -> [Action] {
        [.log(.error, "reload failed, keeping the running configuration: \(reason)", [:]), .notify(.ready)]
    }

    mutating func scheduleReplacement(of slot: Int, reason: RestartReason) {
        guard !isStopping, !replacements.contains(where: { $0.slot == slot }), slots[slot].worker?.isReady == true else { return }
        replacements.append((slot, reason))
    }

    /// Starts the next slot's successor; once it is ready, the old worker
    /// retires (drains) and the next slot's successor starts.
    mutating func advanceReplacements(now: ContinuousClock.Instant) -> [Action] {
        guard let (slot, reason) = replacements.first else { return finishReload() }
        guard let current = slots[slot].worker, current.isReady else {
            // Nothing to replace (the slot is restarting anyway): the restart reads the new configuration.
            replacements.removeFirst()
            return advanceReplacements(now: now)
        }
        guard let successor = slots[slot].successor else { return [.spawn(slot: slot)] }
        guard successor.isReady else { return [] }
        count(restart: reason, slot: slot)
        slots[slot].worker = successor
        slots[slot].successor = nil
        replacements.removeFirst()
        let replaced: Action = .log(.info, "worker replaced", ["slot": "\(slot)", "old_pid": "\(current.pid)", "pid": "\(successor.pid)", "reason": reason.rawValue])
        return [replaced] + retire(current, now: now) + [.notify(.status)] + advanceReplacements(now: now)
    }

    mutating func abandonReplacements(because reason: String) -> [Action] {
        replacements = []
        return [.log(.error, "replacement stopped, the running workers keep serving: \(reason)", [:])] + finishReload()
    }

    private mutating func finishReload() -> [Action] {
        guard case .reloading(let again) = phase else { return [] }
        phase = .running
        let finished: [Action] = [.log(.notice, "reload finished", [:]), .notify(.ready)]
        return again ? finished + reload() : finished
    }

    /// Has a ready worker accept on the socket of each slot that has none,
    /// and stops it once the slot's own worker is ready again. A worker that
    /// is simply booting gets ``coverGrace`` first: covering it would only
    /// have two processes accept on one socket for a moment when it is ready
    /// (harmless in release builds; NIO asserts on the lost accept race in
    /// debug builds).
    mutating func updateCovers(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for slot in slots.indices {
            let coverer = slots.indices.first { slots[$0].worker?.covering.contains(slot) == true }
            let needsCover = slots[slot].worker.map { worker in
                !worker.isReady && (coverer != nil || slots[slot].quickFailures > 0 || now - worker.startedAt > Self.coverGrace)
            } ?? true
            if needsCover, coverer == nil, let chosen = coverCandidate(for: slot), let pid = slots[chosen].worker?.pid {
                update(pid) { $0.covering.insert(slot) }
                actions += [.send(.cover(slot: slot), to: pid), .log(.info, "slot covered by another worker", ["slot": "\(slot)", "by_slot": "\(chosen)"])]
            } else if !needsCover, let coverer, let pid = slots[coverer].worker?.pid {
                update(pid) { $0.covering.remove(slot) }
                actions += [.send(.uncover(slot: slot), to: pid), .log(.info, "slot no longer covered", ["slot": "\(slot)"])]
            }
        }
        return actions
    }

    /// The ready worker covering the fewest slots.
    private func coverCandidate(for slot: Int) -> Int? {
        slots.indices
            .filter { $0 != slot && slots[$0].worker?.isReady == true }
            .min { (slots[$0].worker?.covering.count ?? 0) < (slots[$1].worker?.covering.count ?? 0) }
    }

    /// Every slot's socket is accepted on: by its own worker, or by a cover
    /// while it backs off from boot failures.
    var everySlotServed: Bool {
        slots.indices.allSatisfy { slot in
            slots[slot].worker?.isReady == true
                || (slots[slot].quickFailures > 0 && slots.contains { $0.worker?.covering.contains(slot) == true })
        }
    }
}
