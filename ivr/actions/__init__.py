"""Flow actions: what a flow's `action` node calls by name, registered in `registry`.

Each module serves one part of the line (`intake` flows/order.yaml, `status`, `helpdesk`,
`outages`) and turns a call's slots into a business act of `ivr.services` and an outcome.
"""
