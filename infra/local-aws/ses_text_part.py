"""Keeps both parts of an SES v2 simple email readable in /moto-api/data.json.

moto stores one body per simple email (the HTML part when there is one), so the plain-text
alternative the poller sends could not be read back (`make inbox` shows it). This records the
request's parts on the stored message as `text_part` and `html_part`; nothing else changes.
Imported by moto_server.py.
"""

import json

from moto.ses.models import Message
from moto.sesv2.responses import SESV2Response

_send_email = SESV2Response.send_email


def _send_email_keeping_parts(self):
    result = _send_email(self)
    simple = (json.loads(self.body).get("Content") or {}).get("Simple")
    if simple:
        message_id = json.loads(result)["MessageId"]
        body = simple.get("Body") or {}
        for message in reversed(Message.instances_tracked):
            if message.id == message_id:
                message.text_part = (body.get("Text") or {}).get("Data")
                message.html_part = (body.get("Html") or {}).get("Data")
                break
    return result


SESV2Response.send_email = _send_email_keeping_parts
