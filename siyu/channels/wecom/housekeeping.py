"""The WeCom periodic sweep (the worker runs it every minute): retries, stale callbacks, transfers, channel-code
hand-outs (caps, shifts, auto-accept hours), group codes' group hours, group SOPs,
scan visits, mass-send results and moments. Every step is idempotent, so several chains are harmless."""

from __future__ import annotations

from siyu.channels.wecom import channel_codes, group_codes, group_sop, inbound, inheritance, mass_sends, moments, outbox


def sweep() -> dict[str, int]:
    return {
        "calls_requeued": outbox.retry_due_calls(),
        "callbacks_requeued": inbound.requeue_stale(),
        "transfer_items_changed": inheritance.poll_open_transfers(),
        "codes_rebalanced": channel_codes.rebalance_all(),
        "group_codes_rolled": group_codes.roll_timed(),
        "scan_visits_pruned": channel_codes.prune_scan_visits(),
        "group_sops_run": group_sop.run_due(),
        "mass_send_results": mass_sends.poll_open_mass_sends(),
        "moments_finished": moments.poll_open_moments(),
        "call_payloads_erased": outbox.erase_old_payloads(),
    }
