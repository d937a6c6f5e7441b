"""The reference acquirer: a test host with its own ledger, decisions and injectable faults.

``server.ReferenceAcquirer`` is the host; ``ledger.Ledger`` its books and decisions;
``faults.FaultSet`` what can go wrong on purpose; ``statement`` the daily settlement statement.
"""
