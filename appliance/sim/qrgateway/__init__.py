"""The reference QR gateway (WeChat Pay, Alipay, UnionPay QR) beside the card acquirer."""

from appliance.sim.qrgateway.server import FAULTS, GatewayServer, QrGateway

__all__ = ["FAULTS", "GatewayServer", "QrGateway"]
