#!/usr/bin/env python3
# download-and-delete.py, from "Foundations of Python Network Programming":
# show each message's headers, offer to read it, then offer to delete it.
import email
import poplib
import sys

from _common import host_port, password


def visit_all_listings(p):
    response, listings, octets = p.list()
    for listing in listings:
        visit_listing(p, listing)


def visit_listing(p, listing):
    number, size = listing.decode("ascii").split()
    print("Message", number, "(size is", size, "bytes):")
    print()
    response, lines, octets = p.top(number, 0)
    document = "\n".join(line.decode("utf-8", "replace") for line in lines)
    message = email.message_from_string(document)
    for header in "From", "To", "Subject", "Date":
        if header in message:
            print(header + ":", message[header])
    print()
    print("Read this message [ny]?")
    answer = sys.stdin.readline().strip()
    if answer.lower().startswith("y"):
        response, lines, octets = p.retr(number)
        document = "\n".join(line.decode("utf-8", "replace") for line in lines)
        message = email.message_from_string(document)
        print("-" * 72)
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                print(part.get_payload())
                print("-" * 72)
    print()
    print("Delete this message [ny]?")
    answer = sys.stdin.readline().strip()
    if answer.lower().startswith("y"):
        p.dele(number)
        print("Deleted.")


def main():
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} hostname username")
        sys.exit(2)
    hostname, username = sys.argv[1:]
    passwd = password()
    p = poplib.POP3_SSL(*host_port(hostname, 995))
    try:
        p.user(username)
        p.pass_(passwd)
    except poplib.error_proto as e:
        print("Login failed:", e)
    else:
        visit_all_listings(p)
    finally:
        p.quit()


if __name__ == "__main__":
    main()
