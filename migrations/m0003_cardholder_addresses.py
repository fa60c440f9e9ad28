"""Version 3 (issue 8): the cardholder's optional fields of the issuer's 17-column emission
layout: postal code, correspondence address and its postal code."""

from peewee import CharField

from migrations._base import FrozenModel, add_columns


class Person(FrozenModel):
    """The columns this version adds to person."""

    postal_code = CharField(max_length=10, default="")
    correspondence_address = CharField(max_length=100, default="")
    correspondence_postal_code = CharField(max_length=10, default="")


def up(database):
    add_columns(database, Person)
